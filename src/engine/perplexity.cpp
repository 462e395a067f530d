// Windowed perplexity (see perplexity.h).
#include "engine/perplexity.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "engine/sequence.h"

namespace encore {

double PerplexityResult::ppl() const {
    return n_predicted > 0 ? std::exp(nll / double(n_predicted)) : 0.0;
}

double log_prob(std::span<const float> logits, int32_t target) {
    const float max = *std::max_element(logits.begin(), logits.end());
    double sum = 0;
    for (float l : logits) sum += std::exp(double(l) - double(max));
    return double(logits[size_t(target)]) - double(max) - std::log(sum);
}

std::vector<std::vector<int32_t>> perplexity_windows(std::span<const int32_t> tokens, int64_t ctx,
                                                     int64_t bos_id, int64_t max_windows) {
    if (ctx < 2) fail(ErrorKind::invalid_argument, "--ctx must be at least 2, got {}", ctx);
    const bool with_bos = bos_id >= 0;
    const int64_t step = with_bos ? ctx - 1 : ctx;
    const int64_t n = int64_t(tokens.size());
    std::vector<std::vector<int32_t>> windows;
    for (int64_t start = 0; start < n; start += step) {
        if (max_windows > 0 && int64_t(windows.size()) == max_windows) break;
        const int64_t end = std::min(n, start + step);
        std::vector<int32_t>& window = windows.emplace_back();
        if (with_bos) window.push_back(int32_t(bos_id));
        window.insert(window.end(), tokens.begin() + start, tokens.begin() + end);
    }
    return windows;
}

PerplexityResult perplexity(Engine& engine, std::span<const int32_t> tokens, int64_t ctx,
                            int64_t bos_id, const std::function<void(int64_t, int64_t)>& progress) {
    const std::vector<std::vector<int32_t>> windows = perplexity_windows(tokens, ctx, bos_id);
    PerplexityResult result;
    const int64_t total = int64_t(windows.size());
    Sequence seq(engine);
    for (const std::vector<int32_t>& window : windows) {
        seq.truncate(0);
        seq.prefill(window, Logits::all);
        for (size_t i = 0; i + 1 < window.size(); ++i) {
            result.nll -= log_prob(seq.logits_at(int64_t(i)), window[i + 1]);
            ++result.n_predicted;
        }
        ++result.n_windows;
        if (progress) progress(result.n_windows, total);
    }
    return result;
}

}  // namespace encore
