// Token sampling (see sampler.h).
#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace encore {

Sampler::Sampler(SamplerOptions options) : options_(options), rng_(options.seed) {
    if (options_.temperature < 0 || !std::isfinite(options_.temperature))
        fail(ErrorKind::invalid_argument, "--temp must be >= 0, got {}", options_.temperature);
    if (options_.top_k < 0) fail(ErrorKind::invalid_argument, "--top-k must be >= 0");
    if (!(options_.top_p > 0 && options_.top_p <= 1))
        fail(ErrorKind::invalid_argument, "--top-p must be in (0, 1], got {}", options_.top_p);
    if (!(options_.min_p >= 0 && options_.min_p <= 1))
        fail(ErrorKind::invalid_argument, "--min-p must be in [0, 1], got {}", options_.min_p);
}

int32_t Sampler::argmax(std::span<const float> logits) {
    return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

int32_t Sampler::sample(std::span<const float> logits) {
    if (options_.temperature == 0.0f) return argmax(logits);
    struct Candidate {
        int32_t id;
        float logit;
    };
    std::vector<Candidate> c(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) c[i] = {int32_t(i), logits[i]};
    auto by_logit = [](const Candidate& a, const Candidate& b) {
        return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
    };
    size_t n = c.size();
    if (options_.top_k > 0 && size_t(options_.top_k) < n) {
        std::partial_sort(c.begin(), c.begin() + options_.top_k, c.end(), by_logit);
        n = size_t(options_.top_k);
    } else {
        std::sort(c.begin(), c.end(), by_logit);
    }
    // Probabilities at temperature 1 for the nucleus and min-p filters.
    std::vector<double> p(n);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += p[i] = std::exp(double(c[i].logit - c[0].logit));
    if (options_.top_p < 1.0f) {
        double cum = 0;
        size_t keep = n;
        for (size_t i = 0; i < n; ++i) {
            cum += p[i] / sum;
            if (cum >= options_.top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
    }
    if (options_.min_p > 0.0f) {
        size_t keep = 1;
        while (keep < n && p[keep] >= options_.min_p * p[0]) ++keep;
        n = keep;
    }
    std::vector<double> weights(n);
    for (size_t i = 0; i < n; ++i)
        weights[i] = std::exp(double(c[i].logit - c[0].logit) / options_.temperature);
    std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
    return c[pick(rng_)].id;
}

}  // namespace encore
