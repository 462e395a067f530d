// Sequence: one token sequence and its KV cache (a block table into the Engine's KV pool).
//
// Contract of every call (all positions are 0-based token indices):
//   prefill(tokens, logits)  appends tokens and computes their KV; keeps logits of none, the
//                            last, or all of the appended tokens (logits() returns them).
//   size()                   number of tokens whose KV is cached.
//   truncate(n)              keeps the first n tokens (n <= size(), else invalid_argument);
//                            blocks past n are released; logits() is cleared.
// On any error the sequence and the pool are unchanged.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/engine.h"

namespace encore {

class Sequence {
public:
    explicit Sequence(Engine& engine);
    ~Sequence();
    Sequence(const Sequence&) = delete;
    Sequence& operator=(const Sequence&) = delete;

    void prefill(std::span<const int32_t> tokens, Logits logits = Logits::last);
    int64_t size() const { return int64_t(tokens_.size()); }
    void truncate(int64_t n);
    const std::vector<int32_t>& tokens() const { return tokens_; }

    // Logits kept by the last prefill: [n_rows, vocab] for the rows of logit_positions().
    std::span<const float> logits() const { return logits_; }
    const std::vector<int64_t>& logit_positions() const { return logit_positions_; }
    // Logits of the row for `position` (must be among logit_positions()).
    std::span<const float> logits_at(int64_t position) const;
    // Logits of the last kept row.
    std::span<const float> last_logits() const;

    const std::vector<int32_t>& block_table() const { return blocks_; }
    Engine& engine() const { return engine_; }

private:
    friend class Engine;
    Engine& engine_;
    std::vector<int32_t> tokens_;
    std::vector<int32_t> blocks_;
    std::vector<float> logits_;
    std::vector<int64_t> logit_positions_;
};

}  // namespace encore
