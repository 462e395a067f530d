// GEMMs of block-quantized weights (q8_0, q4_0) on the GPU, dequantized inside the kernel (no
// full-precision copy of the weights on the card), and the random fill of the benchmark's
// ceilings.
//
// y[i, j] = sum_k x[i, k] * W[j, k]: a warp per weight row j and group of up to 8 activation
// rows; lane L takes quant blocks L, L + 32, ... of the row in order, then the warp's partial sums
// are added in a fixed tree. The order depends only on k, never on the number of rows n.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/device_dtype.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"

namespace encore::cuda {

namespace {

constexpr int k_rows_per_pass = 8;  // activation rows sharing one read of a weight block
constexpr int k_warps = 4;

// The 32 values of quant block `b` of a row, in the caller's registers.
template <DType Q>
__device__ __forceinline__ void dequant_block(const uint8_t* row, int64_t b, float (&w)[32]) {
    if constexpr (Q == DType::q8_0) {
        const uint8_t* blk = row + b * 34;
        const float d = f16_bits_to_f32(uint16_t(blk[0] | (blk[1] << 8)));
#pragma unroll
        for (int i = 0; i < 32; ++i) w[i] = float(int8_t(blk[2 + i])) * d;
    } else {
        const uint8_t* blk = row + b * 18;
        const float d = f16_bits_to_f32(uint16_t(blk[0] | (blk[1] << 8)));
#pragma unroll
        for (int i = 0; i < 16; ++i) {
            w[i] = float(int(blk[2 + i] & 0x0f) - 8) * d;
            w[i + 16] = float(int(blk[2 + i] >> 4) - 8) * d;
        }
    }
}

template <DType Q>
__global__ void __launch_bounds__(k_warps * 32)
    matmul_quant_kernel(const float* __restrict__ x, int64_t n, const uint8_t* __restrict__ w,
                        int64_t m, int64_t k, float* __restrict__ y) {
    wait_for_previous_kernel();
    const int lane = int(threadIdx.x % 32);
    const int64_t j = int64_t(blockIdx.x) * k_warps + threadIdx.x / 32;
    if (j >= m) return;
    const int64_t i0 = int64_t(blockIdx.y) * k_rows_per_pass;
    const int rows = int(n - i0 < k_rows_per_pass ? n - i0 : k_rows_per_pass);
    const int64_t n_blocks = k / 32;
    const int64_t row_bytes = n_blocks * (Q == DType::q8_0 ? 34 : 18);
    const uint8_t* wrow = w + j * row_bytes;
    float sum[k_rows_per_pass];
#pragma unroll
    for (int r = 0; r < k_rows_per_pass; ++r) sum[r] = 0.0f;
    for (int64_t b = lane; b < n_blocks; b += 32) {
        float wv[32];
        dequant_block<Q>(wrow, b, wv);
#pragma unroll
        for (int r = 0; r < k_rows_per_pass; ++r) {
            if (r >= rows) break;
            const float4* xr = reinterpret_cast<const float4*>(x + (i0 + r) * k + b * 32);
            float s = 0.0f;
#pragma unroll
            for (int q4 = 0; q4 < 8; ++q4) {
                const float4 xv = xr[q4];
                s += xv.x * wv[q4 * 4] + xv.y * wv[q4 * 4 + 1] + xv.z * wv[q4 * 4 + 2] +
                     xv.w * wv[q4 * 4 + 3];
            }
            sum[r] += s;
        }
    }
#pragma unroll
    for (int r = 0; r < k_rows_per_pass; ++r) {
        float s = sum[r];
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (lane == 0 && r < rows) y[(i0 + r) * m + j] = s;
    }
}

__device__ __forceinline__ uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

__global__ void fill_random_kernel(void* out, DType dtype, int64_t n, float a, uint64_t seed) {
    wait_for_previous_kernel();
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const uint64_t r = mix64(seed + uint64_t(i) * 0x9E3779B97F4A7C15ull);
        const float v = a * (float(r >> 40) * (2.0f / float(1 << 24)) - 1.0f);
        if (dtype == DType::bf16)
            static_cast<__nv_bfloat16*>(out)[i] = __float2bfloat16_rn(v);
        else if (dtype == DType::f16)
            static_cast<__half*>(out)[i] = __float2half_rn(v);
        else
            static_cast<float*>(out)[i] = v;
    }
}

}  // namespace

void launch_matmul_quant(const float* x, int64_t n, const void* w, DType dtype, int64_t m,
                         int64_t k, float* y, cudaStream_t stream) {
    if (n == 0 || m == 0) return;
    const dim3 grid(unsigned((m + k_warps - 1) / k_warps),
                    unsigned((n + k_rows_per_pass - 1) / k_rows_per_pass));
    const auto* wb = static_cast<const uint8_t*>(w);
    if (dtype == DType::q8_0)
        launch(matmul_quant_kernel<DType::q8_0>, grid, k_warps * 32, 0, stream, x, n, wb, m, k, y);
    else
        launch(matmul_quant_kernel<DType::q4_0>, grid, k_warps * 32, 0, stream, x, n, wb, m, k, y);
}

void launch_fill_random(void* out, DType dtype, int64_t n, float a, uint64_t seed,
                        cudaStream_t stream) {
    launch(fill_random_kernel, 4096, 256, 0, stream, out, dtype, n, a, seed);
}

}  // namespace encore::cuda
