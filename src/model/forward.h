// The forward pass, written once against the Backend interface: embeddings, then each layer
// instance of the plan (attention over the paged KV cache of that instance, SwiGLU MLP), then the
// final norm and the output head for the rows whose logits are wanted.
#pragma once

#include <cstdint>
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
};

// Scratch activations in backend memory, reused across calls.
struct ForwardScratch {
    BackendBuffer<float> x, h, q, k, v, attn, gate, up, rows;
    BackendBuffer<float> logits;  // [n_rows, vocab] when the backend's memory is not the host's
    std::vector<float> inv_freq;
};

// Runs the plan over the input, writing K/V into `kv` and logits[i, :] for logit_rows[i]
// (logits: [n_logit_rows, vocab]). Token ids and positions must have been validated.
void forward(const Model& model, const LayerPlan& plan, Backend& backend, KvPool& kv,
             ForwardScratch& scratch, const ForwardInput& input, float* logits);

}  // namespace encore
