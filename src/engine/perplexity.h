// Windowed perplexity of a token stream: the tokens (without BOS) are cut into consecutive
// chunks of ctx - 1; each chunk is evaluated on its own as [BOS] + chunk, and every chunk token
// is predicted (the first from BOS alone). Without a BOS token, chunks of ctx tokens are used and
// their first token is not predicted. NLL is summed in double precision.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "engine/engine.h"

namespace encore {

struct PerplexityResult {
    double nll = 0;           // total negative log-likelihood, nats
    int64_t n_predicted = 0;  // tokens predicted
    int64_t n_windows = 0;
    double ppl() const;
};

// progress(done_windows, total_windows) is called after each window.
PerplexityResult perplexity(Engine& engine, std::span<const int32_t> tokens, int64_t ctx,
                            int64_t bos_id,
                            const std::function<void(int64_t, int64_t)>& progress = {});

// The windows perplexity() evaluates, in order: [BOS] + chunk each (chunk alone without a BOS
// token); at most `max_windows` of them (0 = all).
std::vector<std::vector<int32_t>> perplexity_windows(std::span<const int32_t> tokens, int64_t ctx,
                                                     int64_t bos_id, int64_t max_windows = 0);

// log p(target | logits) in double precision.
double log_prob(std::span<const float> logits /*[vocab]*/, int32_t target);

}  // namespace encore
