// The in-order combination of attention splits, shared by every attention kernel so that a
// query's result has the same bits whichever kernel and launch shape computed it.
//
// Splits are combined one at a time in split order, each a (max m, sum l, unnormalized output
// acc) of its keys: big = max(big, m), den = den * e^(old big - big) + l * e^(m - big), and each
// output column likewise; the result is num / den. Products and sums are rounded one at a time
// (no contraction into fused multiply-adds) so that every kernel that inlines this computes the
// same bits.
#pragma once

#include <cmath>

#include "backend/cuda/device_dtype.cuh"
#include "backend/cuda/kernels.h"

namespace encore::cuda {

// Output values at [at, at + 2) (at even), and at `at`: f32 and, when asked, their 16-bit copy.
__device__ __forceinline__ void store_attention_out2(const AttentionOut& out, int64_t at, float x,
                                                     float y) {
    *reinterpret_cast<float2*>(out.f32 + at) = float2{x, y};
    if (out.out16) store16x2(out.out16, out.out16_type, at, x, y);
}
__device__ __forceinline__ void store_attention_out(const AttentionOut& out, int64_t at, float x) {
    out.f32[at] = x;
    if (out.out16) store16(out.out16, out.out16_type, at, x);
}

// Adds a split's (m, l) to the running (big, den) and returns the weights of the old running
// values (a) and of the split (b); false for a split with no visible key (nothing to add).
__device__ __forceinline__ bool combine_step(float& big, float& den, float m, float l, float& a,
                                             float& b) {
    if (m == -INFINITY) return false;
    const float new_big = fmaxf(big, m);
    a = expf(big - new_big);  // big = -inf (first split): 0
    b = expf(m - new_big);
    den = __fadd_rn(__fmul_rn(den, a), __fmul_rn(l, b));
    big = new_big;
    return true;
}

__device__ __forceinline__ float combine_value(float running, float a, float split_value, float b) {
    return __fadd_rn(__fmul_rn(running, a), __fmul_rn(split_value, b));
}

}  // namespace encore::cuda
