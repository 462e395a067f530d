// Decode GEMV of the CUDA backend: y[i, j] = sum_k x[i, k] * W[j, k] for up to 4 rows of x, with
// W and x in the same 16-bit type (bf16 or f16: x rounded as for the cuBLASLt GEMMs), f32
// accumulation. A warp per weight row streams it once with 16-byte loads, four in flight per
// lane, for every row of x; lanes' partial sums are added in a fixed tree. One launch takes up to
// four weights of the same x (q/k/v), so that the small ones do not run alone with the GPU half
// idle; gate and up take the SwiGLU kernel, whose blocks hold rows of both and write
// silu(gate) * up (no SiLU·mul launch, no products written). A weight's products may be added to
// y as they are stored (Gemv16Out::accumulate: the residual add of matmul_add). Used by default for
// batches of 1-4 rows (gemv16_fits), where cuBLASLt reads the weights far below the memory
// bandwidth; never under --deterministic (its reduction order differs from the GEMMs').
//
// Rows start at a step of their own: a row is read in steps of 32 x 4 groups of 8 elements, and
// row j begins at step j (mod the row's steps) and wraps around. When every warp began at step 0,
// the warps of a wave read the same offset of rows a fixed stride apart, all at once, which most
// likely crowded a few of the memory's channels (not profiled; the speed-up is what was
// measured); starting each row elsewhere spreads the reads. The order in which a row's terms are
// added depends on the row only, never on the batch. Measured on an H100 (2026-12-07,
// Llama-3-8B shape, builds run in turn in one lease, bench/RESULTS.md): decode of 1 row after
// 512 tokens 165.8-166.1 tok/s against 157.9 (+5%), of 4 rows 537 against 388 (+39%).
//
// Its blocks become resident while the kernel before it ends (launch.cuh); they load their first
// weights (never written by a kernel), then wait for x. Measured on an H100 before rows were
// rotated (2026-12-06, Llama-3-8B shape, decode of 1 row after 512 tokens, builds run in turn in
// one lease): 159 tok/s so, 157 waiting before any load, 146-148 with the same loads at three
// blocks per multiprocessor (more registers) or at five or six (fewer), 142 with no overlapping
// launches.
// Rows of 4096 and 6144 read at 2.3-2.4 TB/s. Two warps per row (their sums added through shared
// memory) read them at 2.36-2.39 TB/s but decoded no faster (155.1-155.6 tok/s against
// 155.3-155.8, same lease), and six loads in flight for rows of 14336 (2026-12-07) decoded
// 155.3 tok/s against 157.8.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "backend/cuda/activation.cuh"
#include "backend/cuda/device_dtype.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"

namespace encore::cuda {

namespace {

constexpr int k_max_rows = 4;  // rows of x (gemv16_fits)
constexpr int k_warps = 8;
constexpr int k_unroll = 4;
constexpr int k_swiglu_rows = k_warps / 2;  // rows of each of W_gate and W_up per SwiGLU block
// Resident blocks per multiprocessor the registers must allow: four on Hopper (measured above);
// on older GPUs whatever the compiler picks (holding sm_80 to four spills registers).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
constexpr int k_min_blocks = 1;
#else
constexpr int k_min_blocks = 4;
#endif

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
    bool accumulate[k_max_gemv16_outs];
    unsigned first_block[k_max_gemv16_outs + 1];
    int count;
};

// A 16-byte group of weights, read through the non-coherent path without a place in L1 (each is
// read once) and with L2 filling 256 bytes per miss (a warp's load covers 512 contiguous bytes).
// Measured on an H100 (2026-12-07, Llama-3-8B shape, builds run in turn in one lease,
// bench/RESULTS.md): decode of 1 row after 512 tokens 170.6 tok/s against 167.2 with plain loads
// (+2.1%), of 4 rows 549.8 against 536.3 (+2.5%), of 1 row after 4096 tokens +1.3%.
__device__ __forceinline__ uint4 load_weight_group(const uint4* p) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

// A warp's weight row wr (k8 16-byte groups of 8 elements) against every row of x, streamed once
// with 16-byte loads, k_unroll in flight per lane, from step first_step (mod the row's steps) on.
// The first step's weights (never written by a kernel) load before the wait for x. Gives sum[r]
// for r < n, the lanes' partial sums added in a fixed tree (every lane holds the total). With
// `addend`, each total then has addend[r * addend_stride] added (one rounding). Those values are
// copied into `staged` (this warp's k_max_rows floats of shared memory) by cp.async right after
// the wait, so that their load overlaps the row's stream instead of following its sums, and
// holds no registers across it.
template <bool Bf16>
__device__ __forceinline__ void warp_row_sums(const uint4* __restrict__ wr, bool has_row,
                                              int64_t k8, const uint4* __restrict__ x, int n,
                                              float (&sum)[k_max_rows], int64_t first_step,
                                              const float* addend = nullptr,
                                              int64_t addend_stride = 0, float* staged = nullptr) {
    const int lane = int(threadIdx.x % 32);
    // A step: groups g0 + 32 u of the row (zeros past its end) into wv, then into the sums.
    uint4 wv[k_unroll];
    auto load_step = [&](int64_t g0) {
#pragma unroll
        for (int u = 0; u < k_unroll; ++u) {
            const int64_t g = g0 + 32 * u;
            wv[u] = g < k8 ? load_weight_group(wr + g) : make_uint4(0, 0, 0, 0);
        }
    };
    auto add_step = [&](int64_t g0) {
#pragma unroll
        for (int u = 0; u < k_unroll; ++u) {
            const int64_t g = g0 + 32 * u;
            if (g >= k8) break;
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
    // Steps of 32 * k_unroll groups, from step first_step % n_steps on, wrapping around.
    constexpr int64_t step = 32 * k_unroll;
    const int64_t n_steps = (k8 + step - 1) / step;
    int64_t st = first_step % n_steps;
    if (has_row) load_step(lane + st * step);
    wait_for_previous_kernel();
    if (addend && has_row && lane < n) {
        const auto to = uint32_t(__cvta_generic_to_shared(staged + lane));
        asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(to),
                     "l"(addend + lane * addend_stride)
                     : "memory");
        asm volatile("cp.async.commit_group;\n" ::: "memory");
    }
#pragma unroll
    for (int r = 0; r < k_max_rows; ++r) sum[r] = 0.0f;
    if (has_row) {
        add_step(lane + st * step);
        for (int64_t i = 1; i < n_steps; ++i) {
            if (++st == n_steps) st = 0;
            load_step(lane + st * step);
            add_step(lane + st * step);
        }
    }
#pragma unroll
    for (int r = 0; r < k_max_rows; ++r) {
        if (r >= n) break;
        for (int o = 16; o > 0; o >>= 1) sum[r] += __shfl_xor_sync(0xffffffffu, sum[r], o);
    }
    if (addend && has_row) {
        asm volatile("cp.async.wait_all;\n" ::: "memory");
        __syncwarp();
#pragma unroll
        for (int r = 0; r < k_max_rows; ++r)
            if (r < n) sum[r] += staged[r];
    }
}

template <bool Bf16>
__global__ void __launch_bounds__(k_warps * 32, k_min_blocks)
    gemv16_kernel(Segments segs, int64_t k8, const uint4* __restrict__ x, int n) {
    // This block's weight, chosen with constant indices only (a computed index into the
    // parameters would copy them to local memory).
    const uint4* w = segs.w[0];
    float* y = segs.y[0];
    int64_t m = segs.m[0];
    bool accumulate = segs.accumulate[0];
    unsigned first = 0;
#pragma unroll
    for (int s = 1; s < k_max_gemv16_outs; ++s) {
        if (s < segs.count && blockIdx.x >= segs.first_block[s]) {
            w = segs.w[s];
            y = segs.y[s];
            m = segs.m[s];
            accumulate = segs.accumulate[s];
            first = segs.first_block[s];
        }
    }
    const int lane = int(threadIdx.x % 32), warp = int(threadIdx.x / 32);
    const int64_t j = int64_t(blockIdx.x - first) * k_warps + warp;
    const bool has_row = j < m;
    float sum[k_max_rows];
    __shared__ float staged[k_warps][k_max_rows];  // y's values where the sums are added to y
    warp_row_sums<Bf16>(w + j * k8, has_row, k8, x, n, sum, j, accumulate ? y + j : nullptr, m,
                        staged[warp]);
    if (!has_row || lane != 0) return;
#pragma unroll
    for (int r = 0; r < k_max_rows; ++r)
        if (r < n) y[r * m + j] = sum[r];
}

// SwiGLU: a block takes rows [j0, j0 + k_swiglu_rows) of W_gate (its first warps) and the same
// rows of W_up (the others), and writes silu(gate) * up of them, the sums passed through shared
// memory: the values of the GEMV of both weights followed by launch_silu_mul.
template <bool Bf16>
__global__ void __launch_bounds__(k_warps * 32, k_min_blocks)
    gemv16_swiglu_kernel(const uint4* __restrict__ w_gate, const uint4* __restrict__ w_up,
                         int64_t m, int64_t k8, const uint4* __restrict__ x, int n,
                         float* __restrict__ out, void* out16, DType t16) {
    constexpr int pairs = k_swiglu_rows;
    const int lane = int(threadIdx.x % 32), warp = int(threadIdx.x / 32);
    const int64_t j0 = int64_t(blockIdx.x) * pairs;
    const int64_t j = j0 + warp % pairs;  // warps [0, pairs): gate rows; [pairs, k_warps): up
    const bool has_row = j < m;
    float sum[k_max_rows];
    warp_row_sums<Bf16>((warp < pairs ? w_gate : w_up) + j * k8, has_row, k8, x, n, sum, j);
    __shared__ float sums[k_warps][k_max_rows];
    if (lane == 0)
#pragma unroll
        for (int r = 0; r < k_max_rows; ++r) sums[warp][r] = sum[r];
    __syncthreads();
    const int t = int(threadIdx.x), pair = t % pairs, r = t / pairs;
    if (r >= n || j0 + pair >= m) return;
    const float gate = sums[pair][r], up = sums[pairs + pair][r];
    const float v = silu_mul_value(gate, up);
    const int64_t at = r * m + j0 + pair;
    if (out) out[at] = v;
    if (out16) store16(out16, t16, at, v);
}

}  // namespace

// Taken for 1-4 rows: on an H100 (2026-12-06, Llama-3-8B shape, before rows were rotated) the
// GEMV decoded 1 row 1.28x as fast as cuBLASLt and 8 rows at 0.57x of it (every x row is re-read
// from cache per weight vector); 2-4 rows were not measured against cuBLASLt.
constexpr int k_gemv_rows = 4;
static_assert(k_gemv_rows <= k_max_rows);

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
            segs.accumulate[s] = o.accumulate;
            segs.first_block[s] = blocks;
            blocks += unsigned((o.m + k_warps - 1) / k_warps);
        }
        segs.first_block[segs.count] = blocks;
        if (blocks == 0) continue;
        const auto* xv = static_cast<const uint4*>(x16);
        if (dtype == DType::bf16)
            launch(gemv16_kernel<true>, blocks, k_warps * 32, 0, stream, segs, k / 8, xv, int(n));
        else
            launch(gemv16_kernel<false>, blocks, k_warps * 32, 0, stream, segs, k / 8, xv, int(n));
    }
}

void launch_gemv16_swiglu(const void* w_gate, const void* w_up, int64_t m, DType dtype, int64_t k,
                          const void* x16, int64_t n, float* out, void* out16, DType t16,
                          cudaStream_t stream) {
    const unsigned blocks = unsigned((m + k_swiglu_rows - 1) / k_swiglu_rows);
    if (blocks == 0) return;
    const auto* wg = static_cast<const uint4*>(w_gate);
    const auto* wu = static_cast<const uint4*>(w_up);
    const auto* xv = static_cast<const uint4*>(x16);
    if (dtype == DType::bf16)
        launch(gemv16_swiglu_kernel<true>, blocks, k_warps * 32, 0, stream, wg, wu, m, k / 8, xv,
               int(n), out, out16, t16);
    else
        launch(gemv16_swiglu_kernel<false>, blocks, k_warps * 32, 0, stream, wg, wu, m, k / 8, xv,
               int(n), out, out16, t16);
}

}  // namespace encore::cuda
