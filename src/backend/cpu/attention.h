// Paged-KV attention of the optimized CPU backend: kv_store and causal GQA attention (see
// backend.h for the contracts and the KV block layout).
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"

namespace encore::cpu {

void kv_store(ThreadPool& pool, const float* k /*[n, n_kv_heads, head_dim]*/,
              const float* v /*[n, n_kv_heads, head_dim]*/, const KvLayerView& kv,
              const BatchLayout& batch);

// Buffers kept between calls.
struct AttentionScratch {
    std::vector<std::vector<float>> scores;  // per thread: [tile tokens, heads, positions]
    std::vector<int64_t> tile_starts;        // [n_tiles + 1]
};

void attention(ThreadPool& pool, AttentionScratch& scratch,
               const float* q /*[n, n_heads, head_dim]*/, int n_heads, const KvLayerView& kv,
               const BatchLayout& batch, float* out /*[n, n_heads * head_dim]*/);

}  // namespace encore::cpu
