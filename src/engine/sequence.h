// Sequence: one token sequence and its KV cache (a block table into the Engine's KV pool).
//
// This is the explicit cache API. The pattern it serves: prefill a long prefix once without
// logits, remember its length, and for every item either truncate back to it or fork from it;
// or just call set_tokens() with each full input and let the longest common prefix with what is
// cached be reused. Either way an item's logits are bitwise the same as computing its tokens
// from scratch on the same backend (kernels compute every value in an order that depends neither
// on batch composition nor on how a sequence was split into calls).
//
// Every call either succeeds or leaves the sequence and the KV pool exactly as they were.
//
//   prefill(tokens, logits)   Appends `tokens` (ids in [0, vocab), else out_of_range) and
//                             computes their KV. Keeps the logits of none, the last, or all of
//                             the appended tokens. Full blocks of the appended tokens that are
//                             already in the prefix index (from any live or finished sequence
//                             with the same model, plan and preceding tokens) are reused instead
//                             of computed, except where logits were asked for.
//                             Fails with out_of_memory when the pool has too few blocks.
//   size()                    Number of tokens whose KV is cached.
//   truncate(n)               Keeps the first n tokens (0 <= n <= size(), else
//                             invalid_argument); positions past n are forgotten, blocks no longer
//                             needed are released. Clears the kept logits.
//   fork()                    A new sequence with the same tokens and logits. Full blocks are
//                             shared (copy-on-write: whichever sequence next writes into a shared
//                             block first copies it); a partial last block is copied at once.
//   set_tokens(all, logits)   Makes the sequence hold exactly `all`: keeps the longest common
//                             prefix with the cached tokens, truncates the rest and prefills
//                             the remainder (at least the last token when logits are asked for,
//                             so they can be returned). Returns the number of tokens kept.
//                             Bad ids fail before anything changes; if the pool runs out of
//                             blocks, the sequence is left truncated to the common prefix
//                             (consistent, and the pool's accounting exact).
//   logits()                  Rows kept by the last prefill/set_tokens, [n_rows, vocab], for
//                             the positions in logit_positions().
//   free()                    Releases all blocks now; any later call fails with
//                             invalid_argument ("sequence was freed"). The destructor frees too.
//   save(path) / load(path)   Writes the cached tokens and their KV to a versioned,
//                             checksummed file (atomically); loads one into an empty sequence of
//                             an engine with the same model and plan. See engine/prefix_file.h.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
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
    std::unique_ptr<Sequence> fork() const;
    int64_t set_tokens(std::span<const int32_t> all, Logits logits = Logits::last);
    void free();
    bool is_freed() const { return freed_; }
    void save(const std::string& path) const;
    void load(const std::string& path);

    const std::vector<int32_t>& tokens() const { return tokens_; }
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
    friend struct PrefixFile;
    void check_live() const;

    Engine& engine_;
    bool freed_ = false;
    std::vector<int32_t> tokens_;
    std::vector<int32_t> blocks_;        // [ceil(size / block_size)]
    std::vector<uint64_t> block_hashes_; // chained hash of each full block
    std::vector<float> logits_;
    std::vector<int64_t> logit_positions_;
};

}  // namespace encore
