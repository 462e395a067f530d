// Random-weight models made in memory, for benchmarks (a Llama-3.2-1B-shaped model without
// downloading one) and tests (random models of any shape). Weights are stored in the chosen dtype
// exactly as a checkpoint would hold them; the model has no tokenizer.
#pragma once

#include <cstdint>
#include <memory>

#include "core/dtype.h"
#include "model/model.h"

namespace encore {

// The Llama-3.2-1B shape: 16 layers, hidden 2048, 32/8 heads (head_dim 64), FFN 8192,
// vocab 128256, tied embeddings, llama3 RoPE scaling.
ModelSpec llama32_1b_spec();
// The Llama-3-8B shape: 32 layers, hidden 4096, 32/8 heads (head_dim 128), FFN 14336,
// vocab 128256, untied embeddings, llama3 RoPE scaling (factor 8).
ModelSpec llama3_8b_spec();

// Weights ~ uniform with std 1/sqrt(fan_in) (embeddings std 1), norms ~ 1 +- 0.1.
std::shared_ptr<Model> make_random_model(const ModelSpec& spec, DType dtype, uint64_t seed);

}  // namespace encore
