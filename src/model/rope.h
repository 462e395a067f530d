// RoPE inverse frequencies for a ModelSpec, computed in f32 exactly as Hugging Face computes them
// (default, linear and llama3 scalings), or from GGUF's stored llama3 frequency factors.
#pragma once

#include <vector>

#include "model/model_spec.h"

namespace encore {

// [head_dim / 2] inverse frequencies: rotation angle of pair i at position p is p * inv_freq[i].
std::vector<float> rope_inv_freq(const ModelSpec& spec);

// llama3 scaling expressed as llama.cpp's per-frequency divisors (`rope_freqs.weight`):
// inv_freq_scaled[i] = inv_freq[i] / factors[i].
std::vector<float> llama3_freq_factors(const ModelSpec& spec);

}  // namespace encore
