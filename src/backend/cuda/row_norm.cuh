// The RMSNorm of one row by a block of threads, as every kernel that computes it does
// (rms_norm_kernel in elementwise.cu, the decode GEMV's normed input in gemv.cu): thread t adds the
// squares of the row's float4 groups t, t + Threads, ... in that order, a fixed tree adds the
// threads' sums, the scale is 1 / sqrt(sum / d + eps) and each value x * scale * w. One set of
// expressions, so that both kernels give the same bits.
#pragma once

namespace encore::cuda {

// The sum of every thread's `sum` over a block of Threads, by a fixed tree. A block that calls it
// again must pass a __syncthreads() in between (the partial sums' shared memory is reused).
template <int Threads>
__device__ __forceinline__ float block_sum(float sum) {
    __shared__ float partial[Threads / 32];
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (Threads > 32) {
        if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
        __syncthreads();
        sum = 0.0f;
        for (int wi = 0; wi < Threads / 32; ++wi) sum += partial[wi];
    }
    return sum;
}

// A thread's running sum of squares after one more group of four values.
__device__ __forceinline__ float add_squares(float sum, float4 v) {
    return sum + (v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w);
}

// The row's scale from the threads' sums of squares (every thread of the block calls it).
template <int Threads>
__device__ __forceinline__ float rms_scale(float sum, int64_t d, float eps) {
    return 1.0f / sqrtf(block_sum<Threads>(sum) / float(d) + eps);
}

__device__ __forceinline__ float normed(float x, float scale, float w) {
    return x * scale * w;
}

}  // namespace encore::cuda
