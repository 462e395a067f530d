// StemStore: stem states of many evaluations, kept by what makes each valid, so that engines of
// other plans can start those evaluations at the first instance their plan does not share.
//
// Engine::eval_stem (stem.h) reuses one state the caller holds. A store serves work where the
// caller does not see the forward passes: a Scorer's rubric prefix (prefilled without logits)
// and each item's suffix evaluated on a fork of it, a multiple-choice context and the forks of
// its choices. An engine of the unmodified model attached to the store in capture mode
// (Engine::set_stem_store) records, for every item of every eval, the StemState of the tokens
// it computes, keyed by the tokens cached before them in the sequence (the context they extend:
// empty for a fresh sequence, the prefix for a fork of it) and by the tokens themselves. An
// engine of another plan attached in reuse mode looks every item up by the same key; a state
// found of its model, precision, KV storage type and memory (stem.h) whose plan shares the
// first k > 0 instances with its own starts the item at instance k (any other state is not
// used).
//
// Why the key is enough: a stem instance's K/V and the residual entering instance k of a token
// depend only on the model, the precision, the KV storage type, the first k layers of the
// plan, the token, its position and the K/V of the earlier tokens at those instances, which are
// themselves functions of the context's tokens. A context whose first k instances were computed by
// the same layers (from layer 0 or itself from a stem) holds the same K/V, so an item started from
// the state gets bitwise the logits and cache of a full pass (kernels are row-invariant; see
// stem.h). Lookups compare the stored context and tokens, never a hash alone.
//
// Cost: a state of n tokens captured on a plan of n_inst instances holds the residual entering
// every boundary, (n_inst + 1) x n x n_embd floats, and each instance's K and V, 2 x n_inst x n x
// kv_dim floats, plus its context's token ids. For the bundled 12-layer model (n_embd 256,
// kv_dim 128) that is 25.6 KB per token; for an 8B Llama (4096, 1024, 32 layers) 800 KB per
// token. States lie in the capturing backend's memory (stem.h), the GPU's on a GPU, and the
// budget counts that memory. The store holds at most its byte budget: a state that would exceed
// it is not kept (that item is then computed from layer 0 by the other plans: slower, the same
// result).
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/stem.h"

namespace encore {

struct StemStoreStats {
    int64_t captured = 0;  // states kept
    int64_t refused = 0;   // states not kept: over the budget
    int64_t hits = 0;      // lookups that found a state
    int64_t misses = 0;    // lookups that found none
};

class StemStore {
  public:
    explicit StemStore(int64_t budget_bytes);
    StemStore(const StemStore&) = delete;
    StemStore& operator=(const StemStore&) = delete;

    // Bytes of a state of n_tokens captured on a plan of n_instances (see the top of the file).
    static int64_t state_bytes(int64_t n_tokens, int n_instances, int64_t n_embd, int64_t kv_dim);

    // Whether `bytes` more fit the budget now. A capturing engine asks before computing a state
    // and, when it does not fit, does not capture it and counts it with refuse().
    bool fits(int64_t bytes) const { return bytes_ + bytes <= budget_; }
    void refuse() { ++stats_.refused; }
    // Keeps `state` of the tokens following `context`; false (not kept, counted as refused) when
    // it would exceed the budget. An equal key already present is kept as it is.
    bool add(std::span<const int32_t> context, StemState state);
    // The state of exactly `tokens` following exactly `context`, or null.
    const StemState* find(std::span<const int32_t> context, std::span<const int32_t> tokens);

    int64_t bytes() const { return bytes_; }
    int64_t budget_bytes() const { return budget_; }
    size_t size() const { return n_states_; }
    const StemStoreStats& stats() const { return stats_; }
    void clear();

  private:
    struct Entry {
        std::vector<int32_t> context;
        StemState state;
    };
    const StemState* lookup(std::span<const int32_t> context,
                            std::span<const int32_t> tokens) const;
    static uint64_t key_hash(std::span<const int32_t> context, std::span<const int32_t> tokens);

    int64_t budget_ = 0;
    int64_t bytes_ = 0;
    size_t n_states_ = 0;
    std::unordered_multimap<uint64_t, Entry> entries_;
    StemStoreStats stats_;
};

}  // namespace encore
