// Log-probabilities from a row of logits: log-softmax in double precision, the log-probability of
// one token and the k most likely tokens (ties: lower id first). Also the prompt-logprob cache:
// the per-position results of prompts, kept per KV block so that a request asking for prompt
// log-probabilities (echo) is served from the prefix cache like any other.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

namespace encore::server {

// Most alternatives a request may ask for per position (OpenAI's chat limit; vLLM's default).
inline constexpr int k_max_top_logprobs = 20;

struct TokenLogprob {
    int32_t id = 0;
    double logprob = 0;
};

// What one logits row says about the token that follows it.
struct PositionLogprobs {
    TokenLogprob chosen;            // the token that actually follows
    std::vector<TokenLogprob> top;  // the k_max_top_logprobs most likely, most likely first
};

// log(sum(exp(logits))) of one row, in double.
double log_sum_exp(std::span<const float> logits /*[vocab]*/);
// The row's log-probability of `next` and its top `k` tokens.
PositionLogprobs position_logprobs(std::span<const float> logits /*[vocab]*/, int32_t next, int k);

// Prompt log-probabilities per KV block, keyed by the block's chained prefix hash (the same
// hash the KV pool's prefix index uses, so the key covers the model, the plan and every token up
// to the block's end). An entry holds, for each token of the block, the log-probabilities that
// the row before it gives (the first token of a prompt has none: its entry is unused). LRU-bounded
// by entry count. Thread-safe.
class PromptLogprobCache {
  public:
    explicit PromptLogprobCache(size_t max_blocks) : max_blocks_(max_blocks) {}
    // The entry for `hash`, or false.
    bool find(uint64_t hash, std::vector<PositionLogprobs>& out);
    void insert(uint64_t hash, std::vector<PositionLogprobs> block);
    size_t size() const;

  private:
    struct Entry {
        std::vector<PositionLogprobs> positions;
        std::list<uint64_t>::iterator lru;
    };
    size_t max_blocks_;
    mutable std::mutex mutex_;
    std::unordered_map<uint64_t, Entry> entries_;
    std::list<uint64_t> lru_;  // most recently used first
};

}  // namespace encore::server
