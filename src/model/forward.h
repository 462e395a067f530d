// The forward pass, written once against the Backend interface: embeddings, then each layer
// instance of the plan (attention over the paged KV cache of that instance, SwiGLU MLP), then the
// final norm and the output head for the rows whose logits are wanted.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "kv/kv_pool.h"
#include "model/layer_plan.h"
#include "model/model.h"

namespace encore {

// The tokens of one forward call (many sequences at once; see BatchLayout in backend.h).
struct ForwardInput {
    std::span<const int32_t> tokens;           // [n_tokens]
    std::span<const int32_t> positions;        // [n_tokens]
    std::span<const int32_t> seq_index;        // [n_tokens] index into block_tables
    std::vector<const int32_t*> block_tables;  // [n_seqs] each covering its tokens' positions
    std::span<const int32_t> logit_rows;       // token indices whose logits are wanted

    // Stem reuse (see engine/stem.h). Instances before `start_instance` are not computed: the
    // residual stream entering it is `residual_in` and the K/V (after RoPE) of each skipped
    // instance ii is stem_k[ii] / stem_v[ii], stored into its cache as if computed.
    int start_instance = 0;
    const float* residual_in = nullptr;           // [n_tokens, n_embd]
    std::span<const float*const> stem_k, stem_v;  // [start_instance] each [n_tokens, kv]
    // residual_in and stem_k/stem_v are backend memory.
    // Called for each computed instance ii with the residual entering it and its K/V after RoPE,
    // and once more with ii == n_instances, the final residual (before the norm) and null K/V;
    // the pointers are backend memory, valid until the next op (copy them with Backend::copy).
    std::function<void(int ii, const float* x, const float* k, const float* v)> tap;
};

// Scratch activations in backend memory, reused across calls.
struct ForwardScratch {
    // kv: K [n, n_kv_heads, head_dim] then V of the same shape, in one allocation so that V lies
    // one K further (a backend can then compute both products in one launch).
    BackendBuffer<float> x, h, q, kv, attn, gate, up, rows;
    BackendBuffer<float> logits;  // [n_rows, vocab] when the backend's memory is not the host's
    std::vector<float> inv_freq;
};

// Runs the plan (from input.start_instance) over the input, writing K/V into `kv` and logits[i, :]
// for logit_rows[i] (logits: [n_logit_rows, vocab]). Token ids and positions must have been
// validated.
void forward(const Model& model, const LayerPlan& plan, Backend& backend, KvPool& kv,
             ForwardScratch& scratch, const ForwardInput& input, float* logits);

}  // namespace encore
