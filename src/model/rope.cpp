// RoPE frequencies (see rope.h). Arithmetic is f32, in the order transformers uses, so that the
// angles match its reference bit for bit where possible.
#include "model/rope.h"

#include <cmath>

#include "core/error.h"

namespace encore {

namespace {

std::vector<float> default_inv_freq(const ModelSpec& spec) {
    const int half = int(spec.head_dim / 2);
    std::vector<float> inv(static_cast<size_t>(half));
    const float base = float(spec.rope.theta);
    for (int i = 0; i < half; ++i) {
        const float exponent = float(2 * i) / float(spec.head_dim);
        inv[size_t(i)] = 1.0f / std::pow(base, exponent);
    }
    return inv;
}

}  // namespace

std::vector<float> rope_inv_freq(const ModelSpec& spec) {
    std::vector<float> inv = default_inv_freq(spec);
    if (!spec.rope.freq_factors.empty()) {
        if (spec.rope.freq_factors.size() != inv.size())
            fail(ErrorKind::format, "rope frequency factors: {} values, expected head_dim/2 = {}",
                 spec.rope.freq_factors.size(), inv.size());
        for (size_t i = 0; i < inv.size(); ++i) inv[i] /= spec.rope.freq_factors[i];
        return inv;
    }
    switch (spec.rope.scaling) {
        case RopeScaling::none: break;
        case RopeScaling::linear:
            for (float& f : inv) f /= float(spec.rope.factor);
            break;
        case RopeScaling::llama3: {
            const float factor = float(spec.rope.factor);
            const float low = float(spec.rope.low_freq_factor);
            const float high = float(spec.rope.high_freq_factor);
            const float old_len = float(spec.rope.original_max_position);
            const float low_wavelen = old_len / low;
            const float high_wavelen = old_len / high;
            const float two_pi = float(2.0 * M_PI);
            for (float& f : inv) {
                const float wavelen = two_pi / f;
                float scaled = wavelen > low_wavelen ? f / factor : f;
                const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
                if (medium) {
                    const float smooth = (old_len / wavelen - low) / (high - low);
                    scaled = (1.0f - smooth) * scaled / factor + smooth * scaled;
                }
                f = scaled;
            }
            break;
        }
    }
    return inv;
}

std::vector<float> llama3_freq_factors(const ModelSpec& spec) {
    ModelSpec plain = spec;
    plain.rope.scaling = RopeScaling::none;
    plain.rope.freq_factors.clear();
    const std::vector<float> base = default_inv_freq(plain);
    const std::vector<float> scaled = rope_inv_freq(spec);
    std::vector<float> factors(base.size());
    for (size_t i = 0; i < base.size(); ++i) factors[i] = base[i] / scaled[i];
    return factors;
}

}  // namespace encore
