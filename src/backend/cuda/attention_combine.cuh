// The in-order combination of attention splits, shared by every attention kernel so that a
// query's result has the same bits whichever kernel and launch shape computed it: inside a block
// that walks every split (CombineState), or, where a block per split writes its partial results
// to memory, in the block of a group that finishes last (arrive_last, combine_rows).
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

// Where a block per split writes its split's (m, l) and unnormalized output to memory, the blocks
// of a group (the splits of one tile, KV head and head chunk) each arrive at the group's counter
// once their writes are visible to the whole GPU; the block that arrives last (the `expected`th)
// combines the group's rows and resets the counter to 0 for the next launch. Called by every
// thread of the block; true in every thread of the last block. After it the last block reads the
// other blocks' writes through L2 (__ldcg), never through a (stale) L1 line.
__device__ __forceinline__ bool arrive_last(int* counter, int expected) {
    __threadfence();  // this thread's partial results visible before the block arrives
    __syncthreads();  // ... every thread's, before thread 0 arrives for the block
    bool last = false;
    if (threadIdx.x == 0) {
        last = atomicAdd(counter, 1) == expected - 1;
        if (last) *counter = 0;  // every block of the group has arrived: none will touch it again
    }
    last = __syncthreads_or(last);  // broadcast to the block (a barrier, as __syncthreads)
    if (last) __threadfence();      // the other blocks' writes seen after their arrival
    return last;
}

// Query rows rows[i] (-1: none) combined over their splits 0 .. n_splits[i] - 1 in order, from
// ml [rows, max_splits, 2] and part [rows, max_splits, hd] written by the blocks of this grid,
// into out [rows, hd], by one warp: lane `lane` takes columns lane * W + 32 * W * t + {0 .. W -
// 1} (t < NT) below hd (hd a multiple of W). The loads of K splits of the NR rows are in flight
// together (their latency, not the arithmetic, is what this takes); a split not read (past the
// row's last) enters as one with no visible key (m = -inf), which the combination skips.
template <int NR, int K, int NT, int W>
__device__ __forceinline__ void combine_rows(const float* ml, const float* part,
                                             const int64_t (&rows)[NR], const int (&n_splits)[NR],
                                             int max_splits, int hd, int lane,
                                             const AttentionOut& out) {
    static_assert(W == 1 || W == 2);
    auto col = [&](int t) { return lane * W + 32 * W * t; };
    float big[NR], den[NR], num[NR][NT][W];
    int most = 0;
#pragma unroll
    for (int i = 0; i < NR; ++i) {
        big[i] = -INFINITY;
        den[i] = 0.0f;
#pragma unroll
        for (int t = 0; t < NT; ++t)
#pragma unroll
            for (int e = 0; e < W; ++e) num[i][t][e] = 0.0f;
        most = max(most, n_splits[i]);
    }
    for (int s0 = 0; s0 < most; s0 += K) {
        float m[NR][K], l[NR][K], v[NR][K][NT][W];
#pragma unroll
        for (int i = 0; i < NR; ++i)
#pragma unroll
            for (int k = 0; k < K; ++k) {
                m[i][k] = -INFINITY;
                l[i][k] = 0.0f;
#pragma unroll
                for (int t = 0; t < NT; ++t)
#pragma unroll
                    for (int e = 0; e < W; ++e) v[i][k][t][e] = 0.0f;
                if (s0 + k >= n_splits[i]) continue;
                const int64_t slot = rows[i] * max_splits + s0 + k;
                const float2 ml_s = __ldcg(reinterpret_cast<const float2*>(ml + slot * 2));
                m[i][k] = ml_s.x;
                l[i][k] = ml_s.y;
                const float* ps = part + slot * hd;
#pragma unroll
                for (int t = 0; t < NT; ++t) {
                    if (col(t) >= hd) continue;
                    if constexpr (W == 2) {
                        const float2 x = __ldcg(reinterpret_cast<const float2*>(ps + col(t)));
                        v[i][k][t][0] = x.x;
                        v[i][k][t][1] = x.y;
                    } else {
                        v[i][k][t][0] = __ldcg(ps + col(t));
                    }
                }
            }
#pragma unroll
        for (int i = 0; i < NR; ++i)
#pragma unroll
            for (int k = 0; k < K; ++k) {
                float a, b;
                if (!combine_step(big[i], den[i], m[i][k], l[i][k], a, b)) continue;
#pragma unroll
                for (int t = 0; t < NT; ++t)
#pragma unroll
                    for (int e = 0; e < W; ++e)
                        num[i][t][e] = combine_value(num[i][t][e], a, v[i][k][t][e], b);
            }
    }
#pragma unroll
    for (int i = 0; i < NR; ++i) {
        if (rows[i] < 0) continue;
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            if (col(t) >= hd) continue;
            const int64_t at = rows[i] * hd + col(t);
            if constexpr (W == 2)
                store_attention_out2(out, at, __fdiv_rn(num[i][t][0], den[i]),
                                     __fdiv_rn(num[i][t][1], den[i]));
            else
                store_attention_out(out, at, __fdiv_rn(num[i][t][0], den[i]));
        }
    }
}

}  // namespace encore::cuda
