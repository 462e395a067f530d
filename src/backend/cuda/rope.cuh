// The rotary embedding of one pair of a head's row, as every kernel that computes it does
// (rope_kernel and rope_kv_store_kernel in elementwise.cu, and the decode attention that takes
// over RoPE and the K/V store in attention_mma.cu): the pair (x, y) = (row[c], row[c + half])
// rotated by (cos, sin) of its position and frequency c. The products and the sum are written as
// intrinsics, so that no kernel's compiler contracts them differently: the same bits everywhere.
#pragma once

#include <cuda_runtime.h>

namespace encore::cuda {

// The first element of the rotated pair: x cos - y sin.
__device__ __forceinline__ float rotated_first(float x, float y, float2 r) {
    return __fsub_rn(__fmul_rn(x, r.x), __fmul_rn(y, r.y));
}

// The second element of the rotated pair: y cos + x sin.
__device__ __forceinline__ float rotated_second(float x, float y, float2 r) {
    return __fadd_rn(__fmul_rn(y, r.x), __fmul_rn(x, r.y));
}

// Rotates the pair (*a, *b) in place.
__device__ __forceinline__ void rotate_pair(float* a, float* b, float2 r) {
    const float x = *a, y = *b;
    *a = rotated_first(x, y, r);
    *b = rotated_second(x, y, r);
}

}  // namespace encore::cuda
