// Stem reuse: the residual streams of one run of tokens at every instance boundary of a plan,
// with the K/V of every instance, so that another plan sharing its first k instances (its
// "stem") can start its forward pass at instance k instead of 0.
//
// A StemState is captured by Engine::eval_stem on any engine and used by eval_stem on another
// engine of the same model whose plan starts with the same k layers: the k skipped instances'
// K/V are stored into the new sequence's cache from the state (so the sequence can be extended,
// its blocks published, exactly as if computed), and the residual entering instance k is taken
// from the state. Kernels compute every row independently of the batch, so the result is
// bitwise the same as computing all instances. K/V are kept as f32 (before the pool's rounding)
// and stored through the backend's kv_store, which rounds them as computing would; the residuals
// depend on the storage type the stem attended over, so a state is used only by engines of the
// same KV type.
//
// A state lies in backend memory (Backend::allocate_shared): host memory on the CPU, the GPU's own
// memory on a GPU, where capturing and reusing it are device-to-device copies. It is used only by
// engines whose backend shares that memory (Backend::memory_place). Once captured it is not
// changed, so copies of a StemState share their memory.
//
// eval_stem serves a caller that holds each state (one run of tokens at a time); for batched
// work over forked sequences (a rubric's prefix and its items), engines share states through a
// StemStore instead (stem_store.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace encore {

struct StemState {
    std::string model_identity;                 // the model that computed it
    Precision precision = Precision::standard;  // of the engine that computed it
    DType kv_type = DType::f32;                 // KV storage type of the engine that computed it
    std::string memory_place = "host";          // where `memory` lies (Backend::memory_place)
    std::vector<int> layers;                    // [n_instances] the plan that computed it
    std::vector<int32_t> tokens;                // [n_tokens] the tokens it covers
    int64_t start_position = 0;                 // position of tokens[0]
    int64_t n_embd = 0, kv_dim = 0;
    // One block: the residual entering each instance b in 0..n_instances (b == n_instances: the
    // final residual, before the output norm), each [n_tokens, n_embd]; then the K of each
    // instance, then its V, each [n_tokens, kv_dim], after RoPE.
    std::shared_ptr<float> memory;

    int n_instances() const { return int(layers.size()); }
    int64_t n_tokens() const { return int64_t(tokens.size()); }
    // Floats of the block of a state of these sizes.
    static int64_t floats(int64_t n_tokens, int n_instances, int64_t n_embd, int64_t kv_dim) {
        return n_tokens * (int64_t(n_instances + 1) * n_embd + 2 * int64_t(n_instances) * kv_dim);
    }
    float* residual(int b) const { return memory.get() + b * n_tokens() * n_embd; }
    float* k(int ii) const { return residual(n_instances() + 1) + ii * n_tokens() * kv_dim; }
    float* v(int ii) const { return k(n_instances()) + ii * n_tokens() * kv_dim; }
    // Takes the block for the fields above (layers, tokens and sizes set) from `backend`.
    void allocate(Backend& backend) {
        memory = backend.allocate_shared(size_t(floats(n_tokens(), n_instances(), n_embd, kv_dim)));
        memory_place = backend.memory_place();
    }
    // Instances shared with `plan_layers`: the length of the common prefix of the layer lists.
    int shared_instances(const std::vector<int>& plan_layers) const;
};

// How Engine::eval_stem uses and fills stem states.
struct StemRun {
    const StemState* from = nullptr;  // start at instance `start` from this state (null: at 0)
    int start = 0;
    StemState* capture = nullptr;  // if set, filled with this run's state (all instances)
};

}  // namespace encore
