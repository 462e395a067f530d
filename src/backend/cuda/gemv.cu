// Decode GEMV of the CUDA backend: y[i, j] = sum_k x[i, k] * W[j, k] for up to 8 rows of x, with
// W and x in the same 16-bit type (bf16 or f16: x rounded as for the cuBLASLt GEMMs), f32
// accumulation. k_split warps share a weight row, each streaming its contiguous part once with
// 16-byte loads, four in flight per lane, for every row of x; a warp's lanes are added in a fixed
// tree, then the warps' sums in order. One launch takes up to four weights of the same x (q/k/v,
// gate/up), so that the small ones do not run alone with the GPU half idle. Used by default for
// batches of 1-4 rows (gemv16_fits), where cuBLASLt reads the weights far below the memory
// bandwidth; never under --deterministic (its reduction order differs from the GEMMs').
//
// Its blocks become resident while the kernel before it ends (launch.cuh); they load their first
// weights (never written by a kernel), then wait for x. Measured on an H100 (2026-12-06,
// Llama-3-8B shape, decode of 1 row after 512 tokens, same lease): 157 tok/s waiting before any
// load, 159 loading first at four blocks per multiprocessor, 146-148 at three (more registers),
// 142 with no overlap at all. With a warp per row, the GEMVs of 4096 and 6144 rows read their
// weights at 2.3-2.4 TB/s (ncu), against 3.0 for gate/up's 28672 rows: 4096 rows fill fewer
// than one wave of 528 blocks of 8 warps, and 6144 leave the second wave half empty.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"

namespace encore::cuda {

namespace {

constexpr int k_max_rows = 8;
constexpr int k_warps = 8;
constexpr int k_unroll = 4;

__device__ __forceinline__ void widen(const uint4& v, bool bf16, float (&out)[8]) {
    const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        if (bf16) {
            out[2 * i] = __uint_as_float(w[i] << 16);
            out[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
        } else {
            const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&w[i]));
            out[2 * i] = f.x;
            out[2 * i + 1] = f.y;
        }
    }
}

// The weights of one launch: blocks [first_block[s], first_block[s + 1]) take weight s.
struct Segments {
    const uint4* w[k_max_gemv16_outs];
    float* y[k_max_gemv16_outs];
    int64_t m[k_max_gemv16_outs];
    unsigned first_block[k_max_gemv16_outs + 1];
    int count;
};

// Split warps share a weight row: warp p of a row takes its groups [p * part, (p + 1) * part),
// and the warps' sums are added in order p = 0, 1, ... through shared memory.
template <bool Bf16, int Split>
__global__ void __launch_bounds__(k_warps * 32, 4)
    gemv16_kernel(Segments segs, int64_t k8, const uint4* __restrict__ x, int n) {
    constexpr int rows_per_block = k_warps / Split;
    __shared__ float partial[k_warps][k_max_rows];
    // This block's weight, chosen with constant indices only (a computed index into the
    // parameters would copy them to local memory).
    const uint4* w = segs.w[0];
    float* y = segs.y[0];
    int64_t m = segs.m[0];
    unsigned first = 0;
#pragma unroll
    for (int s = 1; s < k_max_gemv16_outs; ++s) {
        if (s < segs.count && blockIdx.x >= segs.first_block[s]) {
            w = segs.w[s];
            y = segs.y[s];
            m = segs.m[s];
            first = segs.first_block[s];
        }
    }
    const int lane = int(threadIdx.x % 32), warp = int(threadIdx.x / 32);
    const int part = warp % Split;
    const int64_t j = int64_t(blockIdx.x - first) * rows_per_block + warp / Split;
    const bool has_row = j < m;
    const int64_t part_groups = (k8 + Split - 1) / Split;
    const int64_t g_begin = part * part_groups;
    const int64_t g_end = min(k8, g_begin + part_groups);
    const uint4* wr = w + j * k8;  // k8: 16-byte groups of 8 elements per row
    // A step: groups g0 + 32 u of the part (zeros past its end) into wv, then into the sums.
    uint4 wv[k_unroll];
    float sum[k_max_rows];
    auto load_step = [&](int64_t g0) {
#pragma unroll
        for (int u = 0; u < k_unroll; ++u) {
            const int64_t g = g0 + 32 * u;
            wv[u] = g < g_end ? wr[g] : make_uint4(0, 0, 0, 0);
        }
    };
    auto add_step = [&](int64_t g0) {
#pragma unroll
        for (int u = 0; u < k_unroll; ++u) {
            const int64_t g = g0 + 32 * u;
            if (g >= g_end) break;
            float wf[8];
            widen(wv[u], Bf16, wf);
#pragma unroll
            for (int r = 0; r < k_max_rows; ++r) {
                if (r >= n) break;
                float xf[8];
                widen(x[r * k8 + g], Bf16, xf);
#pragma unroll
                for (int e = 0; e < 8; ++e) sum[r] += wf[e] * xf[e];
            }
        }
    };
    // The first step's weights (never written by a kernel) load before the wait for x.
    if (has_row) load_step(g_begin + lane);
    wait_for_inputs();
    let_next_kernel_start();
#pragma unroll
    for (int r = 0; r < k_max_rows; ++r) sum[r] = 0.0f;
    if (has_row) {
        add_step(g_begin + lane);
        for (int64_t g0 = g_begin + lane + 32 * k_unroll; g0 < g_end; g0 += 32 * k_unroll) {
            load_step(g0);
            add_step(g0);
        }
    }
#pragma unroll
    for (int r = 0; r < k_max_rows; ++r) {
        if (r >= n) break;
        float s = sum[r];
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if constexpr (Split == 1) {
            if (lane == 0 && has_row) y[r * m + j] = s;
        } else {
            if (lane == 0) partial[warp][r] = s;
        }
    }
    if constexpr (Split > 1) {
        __syncthreads();
        if (part == 0 && has_row && lane < n) {
            float s = partial[warp][lane];
#pragma unroll
            for (int p = 1; p < Split; ++p) s += partial[warp + p][lane];
            y[lane * m + j] = s;
        }
    }
}

}  // namespace

// Taken for 1-4 rows: on an H100 (2026-12-06, Llama-3-8B shape) the GEMV decoded 1 row 1.28x as
// fast as cuBLASLt and 8 rows at 0.57x of it (every x row is re-read from cache per weight
// vector); 2-4 rows were not measured.
constexpr int k_gemv_rows = 4;
// Warps per weight row: two, so that rows of 4096 fill two waves of blocks (a run on an H100 of
// 1, 2 and 4 is in bench/RESULTS.md).
constexpr int k_split = 2;
constexpr int k_rows_per_block = k_warps / k_split;

bool gemv16_fits(int64_t n, int64_t k) {
    return n >= 1 && n <= k_gemv_rows && k % 8 == 0;
}

void launch_gemv16(const Gemv16Out* outs, int n_outs, DType dtype, int64_t k, const void* x16,
                   int64_t n, cudaStream_t stream) {
    for (int first = 0; first < n_outs; first += k_max_gemv16_outs) {
        Segments segs{};
        segs.count = std::min(n_outs - first, k_max_gemv16_outs);
        unsigned blocks = 0;
        for (int s = 0; s < segs.count; ++s) {
            const Gemv16Out& o = outs[first + s];
            segs.w[s] = static_cast<const uint4*>(o.w);
            segs.y[s] = o.y;
            segs.m[s] = o.m;
            segs.first_block[s] = blocks;
            blocks += unsigned((o.m + k_rows_per_block - 1) / k_rows_per_block);
        }
        segs.first_block[segs.count] = blocks;
        if (blocks == 0) continue;
        const auto* xv = static_cast<const uint4*>(x16);
        if (dtype == DType::bf16)
            launch(gemv16_kernel<true, k_split>, blocks, k_warps * 32, 0, stream, segs, k / 8, xv,
                   int(n));
        else
            launch(gemv16_kernel<false, k_split>, blocks, k_warps * 32, 0, stream, segs, k / 8, xv,
                   int(n));
    }
}

}  // namespace encore::cuda
