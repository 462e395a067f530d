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

namespace encore::cuda {

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

// One query row's combination, for NT groups of two output columns held by one thread.
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
    __device__ __forceinline__ void add(float m, float l, const float (&acc)[NT][2]) {
        float a, b;
        if (!combine_step(big, den, m, l, a, b)) return;
#pragma unroll
        for (int i = 0; i < NT; ++i)
#pragma unroll
            for (int e = 0; e < 2; ++e) num[i][e] = combine_value(num[i][e], a, acc[i][e], b);
    }
    __device__ __forceinline__ float result(int i, int e) const {
        return __fdiv_rn(num[i][e], den);
    }
};

}  // namespace encore::cuda
