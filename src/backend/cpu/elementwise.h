// Row-wise and elementwise ops of the optimized CPU backend (see backend.h for their contracts).
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"

namespace encore::cpu {

void embed(ThreadPool& pool, const TensorView& table /*[vocab, d]*/, const int32_t* ids /*[n]*/,
           int64_t n, float* out /*[n, d]*/);
// `scratch` holds the weight converted to f32: [d].
void rms_norm(ThreadPool& pool, std::vector<float>& scratch, const float* x /*[n, d]*/,
              const TensorView& weight /*[d]*/, float eps, int64_t n, float* out /*[n, d]*/);
void rope(ThreadPool& pool, float* x /*[n, n_heads, head_dim]*/, int64_t n, int n_heads,
          const int32_t* positions /*[n]*/, const RopeTable& table);
void silu_mul(ThreadPool& pool, const float* gate /*[n]*/, const float* up /*[n]*/, int64_t n,
              float* out /*[n]*/);
void add(ThreadPool& pool, float* x /*[n]*/, const float* y /*[n]*/, int64_t n);
void gather_rows(const float* src /*[*, d]*/, int64_t d, const int32_t* rows /*[n]*/, int64_t n,
                 float* dst /*[n, d]*/);

}  // namespace encore::cpu
