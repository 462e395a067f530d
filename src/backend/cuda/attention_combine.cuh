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
    if (out.f32) *reinterpret_cast<float2*>(out.f32 + at) = float2{x, y};
    if (out.out16) store16x2(out.out16, out.out16_type, at, x, y);
}
__device__ __forceinline__ void store_attention_out(const AttentionOut& out, int64_t at, float x) {
    if (out.f32) out.f32[at] = x;
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

// One query row's combination, for NT groups of two output columns held by one thread (the
// accumulator layout of attention_mma.cu).
template <int NT>
struct CombineState {
    float big, den;
    float num[NT][2];
    __device__ __forceinline__ void reset() {
        big = -INFINITY;
        den = 0.0f;
#pragma unroll
        for (int i = 0; i < NT; ++i) num[i][0] = num[i][1] = 0.0f;
    }
    // acc[i][2 * row + e]: columns i * 8 + e of one of the two rows of an mma fragment.
    __device__ __forceinline__ void add(float m, float l, const float (&acc)[NT][4], int row) {
        float a, b;
        if (!combine_step(big, den, m, l, a, b)) return;
#pragma unroll
        for (int i = 0; i < NT; ++i)
#pragma unroll
            for (int e = 0; e < 2; ++e)
                num[i][e] = combine_value(num[i][e], a, acc[i][2 * row + e], b);
    }
    __device__ __forceinline__ float result(int i, int e) const {
        return __fdiv_rn(num[i][e], den);
    }
};

}  // namespace encore::cuda
