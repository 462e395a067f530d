// Paged attention on the GPU, FlashAttention-style: one kernel for prefill and decode.
//
// A block takes a tile of consecutive tokens of one sequence, the query heads of one KV head
// (all of a GQA group, or a chunk of it), and one split of the keys: positions
// [s * k_attention_split, (s + 1) * k_attention_split). It streams the split's keys through shared
// memory 32 at a time, in order, with an online softmax per query row (running max m, sum l,
// unnormalized output acc), and writes (m, l, acc) of the split. A second kernel combines the
// splits of each query in split order. Splits are fixed per position, chunks run from the split's
// start, and keys past a query's position are masked to exact no-ops (exp weight 0, rescale 1):
// every query's result is the same bits whatever tile, batch or call it came in.
//
// Math in f32; K/V read in the pool's storage type (f32, f16, bf16) and widened (exactly), 16
// bytes (4 floats) or 8 bytes (4 halves) a load when head_dim is a multiple of 4. Pools stored in
// f16 or bf16 with head_dim 64 or 128 take the tensor-core kernel of attention_mma.cu instead,
// which keeps the same split arithmetic; both combine splits with attention_combine.cuh.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <type_traits>

#include "backend/cuda/attention_combine.cuh"
#include "backend/cuda/device_dtype.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"

namespace encore::cuda {

namespace {

constexpr int k_warps = 4;
constexpr int k_chunk = 32;  // keys per step: one per lane

__device__ __forceinline__ float to_f32(float v) {
    return v;
}
__device__ __forceinline__ float to_f32(__half v) {
    return __half2float(v);
}
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) {
    return __bfloat162float(v);
}

// Rows of queries per warp for a head_dim of 32 * Hdl (registers: Rpw * (Hdl + 2) per lane).
__host__ __device__ constexpr int rows_per_warp(int hdl) {
    return hdl <= 4 ? 16 : 8;
}

// One chunk of 32 keys (key c0 + lane in this lane) against the warp's first N rows: scores,
// online-softmax update, acc += p · V with keys in order. A row's arithmetic is the same for
// every N.
template <int N, int Rpw, int Hdl>
__device__ __forceinline__ void attend_chunk(const float* k_s, const float* v_s, const float* q_s,
                                             int hd, int warp, int lane, int c0, int split_end,
                                             float scale, const int (&qpos)[Rpw], float (&m)[Rpw],
                                             float (&l)[Rpw], float (&acc)[Rpw][Hdl]) {
    float s[N];
#pragma unroll
    for (int i = 0; i < N; ++i) s[i] = 0.0f;
    const float* k_row = k_s + lane * (hd + 1);
    const float* q_row0 = q_s + warp * hd;  // row i of this warp: q_s[(i * k_warps + warp) * hd]
    for (int c = 0; c < hd; ++c) {
        const float kc = k_row[c];
#pragma unroll
        for (int i = 0; i < N; ++i) s[i] += q_row0[i * k_warps * hd + c] * kc;
    }
    const int p = c0 + lane;
    float pw[N];
#pragma unroll
    for (int i = 0; i < N; ++i) {
        const float score = (p < split_end && p <= qpos[i]) ? s[i] * scale : -INFINITY;
        float cmax = score;
        for (int o = 16; o > 0; o >>= 1) cmax = fmaxf(cmax, __shfl_xor_sync(0xffffffffu, cmax, o));
        const float m_new = fmaxf(m[i], cmax);
        if (m_new == -INFINITY) {  // nothing visible yet for this row
            pw[i] = 0.0f;
            continue;
        }
        const float alpha = expf(m[i] - m_new);  // m = -inf: 0
        pw[i] = score == -INFINITY ? 0.0f : expf(score - m_new);
        float psum = pw[i];
        for (int o = 16; o > 0; o >>= 1) psum += __shfl_xor_sync(0xffffffffu, psum, o);
        l[i] = l[i] * alpha + psum;
        m[i] = m_new;
#pragma unroll
        for (int t = 0; t < Hdl; ++t) acc[i][t] *= alpha;
    }
    for (int j = 0; j < k_chunk; ++j) {
        float vj[Hdl];
#pragma unroll
        for (int t = 0; t < Hdl; ++t) {
            const int c = lane + 32 * t;
            vj[t] = c < hd ? v_s[j * hd + c] : 0.0f;
        }
#pragma unroll
        for (int i = 0; i < N; ++i) {
            const float pj = __shfl_sync(0xffffffffu, pw[i], j);
#pragma unroll
            for (int t = 0; t < Hdl; ++t) acc[i][t] += pj * vj[t];
        }
    }
}

template <typename KvT, int Hdl>
__global__ void __launch_bounds__(k_warps * 32)
    attention_kernel(const float* __restrict__ q, int n_heads, KvDeviceView kv, BatchDevice batch,
                     const AttentionTile* __restrict__ tiles, AttentionPlan plan, int max_splits,
                     float scale, float* __restrict__ ml, float* __restrict__ part) {
    wait_for_previous_kernel();
    constexpr int Rpw = rows_per_warp(Hdl);
    constexpr int R = Rpw * k_warps;
    extern __shared__ float smem[];
    const int hd = kv.head_dim;
    float* q_s = smem;                      // [R][hd]
    float* k_s = q_s + R * hd;              // [32][hd + 1]
    float* v_s = k_s + k_chunk * (hd + 1);  // [32][hd]

    const AttentionTile tile = tiles[blockIdx.x / plan.head_chunks];
    const int head_chunk = int(blockIdx.x % plan.head_chunks);
    const int kvh = int(blockIdx.y);
    const int split = int(blockIdx.z);
    const int split_start = split * k_attention_split;
    if (split_start > tile.max_pos) return;
    const int split_end = min(split_start + k_attention_split, tile.max_pos + 1);
    const int group = n_heads / kv.n_kv_heads;
    const int lane = int(threadIdx.x % 32), warp = int(threadIdx.x / 32);

    // Query rows: r = token_in_tile * heads_per_block + head_in_block.
    auto row_head = [&](int r) {
        return kvh * group + head_chunk * plan.heads_per_block + r % plan.heads_per_block;
    };
    auto row_valid = [&](int r) {
        return r / plan.heads_per_block < tile.n_tokens &&
               r < plan.tile_tokens * plan.heads_per_block &&
               (head_chunk * plan.heads_per_block + r % plan.heads_per_block) < group;
    };
    for (int idx = int(threadIdx.x); idx < R * hd; idx += k_warps * 32) {
        const int r = idx / hd, c = idx % hd;
        float val = 0.0f;
        if (row_valid(r)) {
            const int64_t token = tile.first_token + r / plan.heads_per_block;
            val = q[(token * n_heads + row_head(r)) * hd + c];
        }
        q_s[idx] = val;
    }

    // Rows are dealt to the warps in turn (row r to warp r % 4), so that the few rows of a
    // decode step spread over every warp; a warp works on its first `my_rows` rows only.
    int qpos[Rpw];
    int my_rows = 0;
#pragma unroll
    for (int i = 0; i < Rpw; ++i) {
        const int r = i * k_warps + warp;
        qpos[i] = -1;
        if (row_valid(r)) {
            qpos[i] = batch.positions[tile.first_token + r / plan.heads_per_block];
            my_rows = i + 1;
        }
    }
    float m[Rpw], l[Rpw], acc[Rpw][Hdl];
#pragma unroll
    for (int i = 0; i < Rpw; ++i) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
#pragma unroll
        for (int t = 0; t < Hdl; ++t) acc[i][t] = 0.0f;
    }

    const int32_t* table = batch.tables + batch.table_offsets[tile.seq];
    const KvT* pool = static_cast<const KvT*>(kv.pool);
    const int64_t v_offset = int64_t(kv.n_kv_heads) * kv.block_size * hd;
    auto kv_at = [&](int p, int c) {
        return int64_t(table[p / kv.block_size]) * kv.block_stride + kv.instance_offset +
               (int64_t(kvh) * kv.block_size + p % kv.block_size) * hd + c;
    };
    for (int c0 = split_start; c0 < split_end; c0 += k_chunk) {
        __syncthreads();  // previous chunk consumed (and q_s written, first time)
        if (std::is_same_v<KvT, float> && hd % 4 == 0) {  // 16-byte loads
            for (int idx = int(threadIdx.x) * 4; idx < k_chunk * hd; idx += k_warps * 32 * 4) {
                const int j = idx / hd, c = idx % hd;
                const int p = c0 + j;
                float4 kval = make_float4(0, 0, 0, 0), vval = kval;
                if (p < split_end) {
                    const int64_t at = kv_at(p, c);
                    kval = *reinterpret_cast<const float4*>(pool + at);
                    vval = *reinterpret_cast<const float4*>(pool + at + v_offset);
                }
                float* kd = k_s + j * (hd + 1) + c;
                kd[0] = kval.x, kd[1] = kval.y, kd[2] = kval.z, kd[3] = kval.w;
                *reinterpret_cast<float4*>(v_s + j * hd + c) = vval;
            }
        } else if (!std::is_same_v<KvT, float> && hd % 4 == 0) {  // 8-byte loads: 4 halves
            for (int idx = int(threadIdx.x) * 4; idx < k_chunk * hd; idx += k_warps * 32 * 4) {
                const int j = idx / hd, c = idx % hd;
                const int p = c0 + j;
                uint2 kraw = make_uint2(0, 0), vraw = kraw;  // zero bits: 0.0 in f16 and bf16
                if (p < split_end) {
                    const int64_t at = kv_at(p, c);
                    kraw = *reinterpret_cast<const uint2*>(pool + at);
                    vraw = *reinterpret_cast<const uint2*>(pool + at + v_offset);
                }
                const KvT* kh = reinterpret_cast<const KvT*>(&kraw);
                const KvT* vh = reinterpret_cast<const KvT*>(&vraw);
                float* kd = k_s + j * (hd + 1) + c;
                kd[0] = to_f32(kh[0]), kd[1] = to_f32(kh[1]), kd[2] = to_f32(kh[2]),
                kd[3] = to_f32(kh[3]);
                *reinterpret_cast<float4*>(v_s + j * hd + c) =
                    make_float4(to_f32(vh[0]), to_f32(vh[1]), to_f32(vh[2]), to_f32(vh[3]));
            }
        } else {
            for (int idx = int(threadIdx.x); idx < k_chunk * hd; idx += k_warps * 32) {
                const int j = idx / hd, c = idx % hd;
                const int p = c0 + j;
                float kval = 0.0f, vval = 0.0f;
                if (p < split_end) {
                    const int64_t at = kv_at(p, c);
                    kval = to_f32(pool[at]);
                    vval = to_f32(pool[at + v_offset]);
                }
                k_s[j * (hd + 1) + c] = kval;
                v_s[j * hd + c] = vval;
            }
        }
        __syncthreads();
        // Warp-uniform: rows past my_rows have nothing to see.
        if (my_rows == 0) continue;
        if (my_rows <= 2)
            attend_chunk<2>(k_s, v_s, q_s, hd, warp, lane, c0, split_end, scale, qpos, m, l, acc);
        else
            attend_chunk<Rpw>(k_s, v_s, q_s, hd, warp, lane, c0, split_end, scale, qpos, m, l, acc);
    }

    // The split's partial results.
#pragma unroll
    for (int i = 0; i < Rpw; ++i) {
        const int r = i * k_warps + warp;
        if (qpos[i] < 0) continue;
        const int64_t token = tile.first_token + r / plan.heads_per_block;
        const int64_t slot = (token * n_heads + row_head(r)) * max_splits + split;
        if (lane == 0) {
            ml[slot * 2] = m[i];
            ml[slot * 2 + 1] = l[i];
        }
#pragma unroll
        for (int t = 0; t < Hdl; ++t) {
            const int c = lane + 32 * t;
            if (c < hd) part[slot * hd + c] = acc[i][t];
        }
    }
}

// out[token, head, :]: the query's splits combined in order (attention_combine.cuh). A warp
// takes a row (token * n_heads + head), lane l its columns l + 32 t (head_dim <= 32 *
// k_combine_cols); the split weights are computed once per lane, not once per column.
constexpr int k_combine_cols = 8;
constexpr int k_combine_rows = 4;  // rows (warps) per block
__global__ void __launch_bounds__(32 * k_combine_rows)
    combine_kernel(const float* __restrict__ ml, const float* __restrict__ part,
                   const int32_t* __restrict__ positions, int64_t n_rows, int n_heads, int hd,
                   int max_splits, AttentionOut out) {
    wait_for_previous_kernel();
    const int64_t row = int64_t(blockIdx.x) * k_combine_rows + threadIdx.x / 32;
    if (row >= n_rows) return;
    const int lane = int(threadIdx.x % 32);
    const int64_t token = row / n_heads;
    const int n_splits = positions[token] / k_attention_split + 1;
    const float* mlr = ml + row * max_splits * 2;
    // Split s + 1's values are read while split s is added (the loads' latency, not the
    // arithmetic, is what a few rows take).
    auto read = [&](int s, float& m, float& l, float(&v)[k_combine_cols]) {
        m = mlr[s * 2];
        l = mlr[s * 2 + 1];
        const float* ps = part + (row * max_splits + s) * hd;
#pragma unroll
        for (int t = 0; t < k_combine_cols; ++t)
            v[t] = lane + 32 * t < hd ? ps[lane + 32 * t] : 0.0f;
    };
    float big = -INFINITY, den = 0.0f, num[k_combine_cols] = {};
    float m_next, l_next, v_next[k_combine_cols];
    read(0, m_next, l_next, v_next);
    for (int s = 0; s < n_splits; ++s) {
        const float m = m_next, l = l_next;
        float v[k_combine_cols];
#pragma unroll
        for (int t = 0; t < k_combine_cols; ++t) v[t] = v_next[t];
        if (s + 1 < n_splits) read(s + 1, m_next, l_next, v_next);
        float a, b;
        if (!combine_step(big, den, m, l, a, b)) continue;
#pragma unroll
        for (int t = 0; t < k_combine_cols; ++t) num[t] = combine_value(num[t], a, v[t], b);
    }
#pragma unroll
    for (int t = 0; t < k_combine_cols; ++t)
        if (lane + 32 * t < hd)
            store_attention_out(out, row * hd + lane + 32 * t, __fdiv_rn(num[t], den));
}

template <typename KvT, int Hdl>
void launch_typed(const float* q, int n_heads, const KvDeviceView& kv, const BatchDevice& batch,
                  const AttentionTile* tiles, int n_tiles, const AttentionPlan& plan,
                  int max_splits, float* ml, float* part, cudaStream_t stream) {
    constexpr int R = rows_per_warp(Hdl) * k_warps;
    const int hd = kv.head_dim;
    const size_t smem = size_t(R * hd + k_chunk * (hd + 1) + k_chunk * hd) * sizeof(float);
    static bool attribute_set = false;  // per instantiation; set once, before any launch
    if (!attribute_set) {
        cudaFuncSetAttribute(attention_kernel<KvT, Hdl>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, 160 * 1024);
        attribute_set = true;
    }
    const dim3 grid(unsigned(n_tiles * plan.head_chunks), unsigned(kv.n_kv_heads),
                    unsigned(max_splits));
    launch(attention_kernel<KvT, Hdl>, grid, k_warps * 32, smem, stream, q, n_heads, kv, batch,
           tiles, plan, max_splits, 1.0f / sqrtf(float(hd)), ml, part);
}

template <typename KvT>
void launch_for_type(const float* q, int n_heads, const KvDeviceView& kv, const BatchDevice& batch,
                     const AttentionTile* tiles, int n_tiles, const AttentionPlan& plan,
                     int max_splits, float* ml, float* part, cudaStream_t stream) {
    const int hdl = (kv.head_dim + 31) / 32;
    if (hdl <= 1)
        launch_typed<KvT, 1>(q, n_heads, kv, batch, tiles, n_tiles, plan, max_splits, ml, part,
                             stream);
    else if (hdl <= 2)
        launch_typed<KvT, 2>(q, n_heads, kv, batch, tiles, n_tiles, plan, max_splits, ml, part,
                             stream);
    else if (hdl <= 4)
        launch_typed<KvT, 4>(q, n_heads, kv, batch, tiles, n_tiles, plan, max_splits, ml, part,
                             stream);
    else
        launch_typed<KvT, 8>(q, n_heads, kv, batch, tiles, n_tiles, plan, max_splits, ml, part,
                             stream);
}

int rows_per_block(int head_dim) {
    return rows_per_warp((head_dim + 31) / 32 <= 4 ? 4 : 8) * k_warps;
}

}  // namespace

AttentionPlan attention_plan(int n_heads, int n_kv_heads, int head_dim, DType kv_type) {
    const int group = n_heads / n_kv_heads;
    const bool mma =
        (kv_type == DType::f16 || kv_type == DType::bf16) && (head_dim == 64 || head_dim == 128);
    const int rows = mma ? k_attention_mma_rows : rows_per_block(head_dim);
    AttentionPlan plan;
    plan.heads_per_block = group < rows ? group : rows;
    plan.head_chunks = (group + plan.heads_per_block - 1) / plan.heads_per_block;
    plan.tile_tokens = rows / plan.heads_per_block;
    return plan;
}

int64_t attention_scratch_floats(int64_t n_tokens, int n_heads, int head_dim, int max_pos) {
    const int64_t splits = max_pos / k_attention_split + 1;
    return n_tokens * n_heads * splits * (head_dim + 2);
}

namespace {
// The fused path once its blocks fill 7/8 of one wave (one block per multiprocessor, as the
// registers allow): past that, splitting the keys only adds waves of shorter blocks and the
// combine. Measured on an H100 (132 SMs, 2026-12-06, bench/RESULTS.md) with the threshold at 116
// blocks (the same choices as 115 = 7/8 of 132 for every launch there) against the earlier 264:
// prefill of 512 and 1024 tokens 3-7% faster, decode 16 x 4096 10-18% faster (its 128 blocks
// now fused), the rest within noise; the bits are the same either way.
int fused_min_blocks = -1;  // -1: 7/8 of the multiprocessors of the current device
}  // namespace

void set_attention_fused_min_blocks(int blocks) {
    fused_min_blocks = blocks;
}

bool attention_fused(DType kv_type, int n_kv_heads, int head_dim, const AttentionPlan& plan,
                     int n_tiles) {
    if (!attention_mma_fits(kv_type, head_dim, plan)) return false;
    int device = 0, major = 0;
    cudaGetDevice(&device);
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    if (major < 9 && head_dim == 128) return false;  // built for Hopper only (attention_mma.cu)
    if (fused_min_blocks < 0) {
        int sms = 0;
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
        fused_min_blocks = std::max(1, sms * 7 / 8);
        // ENCORE_CUDA_FUSED_MIN_BLOCKS=N in the environment sets it (for comparisons).
        if (const char* env = std::getenv("ENCORE_CUDA_FUSED_MIN_BLOCKS"))
            fused_min_blocks = std::max(0, std::atoi(env));
    }
    return int64_t(n_tiles) * plan.head_chunks * n_kv_heads >= fused_min_blocks;
}

void launch_attention(const float* q, int n_heads, const KvDeviceView& kv, const BatchDevice& batch,
                      const AttentionTile* tiles, int n_tiles, int max_pos, float* scratch,
                      const AttentionOut& out, cudaStream_t stream) {
    if (batch.n_tokens == 0) return;
    const AttentionPlan plan = attention_plan(n_heads, kv.n_kv_heads, kv.head_dim, kv.type);
    const int max_splits = max_pos / k_attention_split + 1;
    float* ml = scratch;  // [n_tokens, n_heads, max_splits, 2]
    float* part = scratch ? scratch + batch.n_tokens * n_heads * max_splits * 2 : nullptr;
    if (attention_mma_fits(kv.type, kv.head_dim, plan)) {
        const bool fused = attention_fused(kv.type, kv.n_kv_heads, kv.head_dim, plan, n_tiles);
        launch_attention_mma(fused, q, n_heads, kv, batch, tiles, n_tiles, plan, max_splits, ml,
                             part, out, stream);
        if (fused) return;
    } else {
        switch (kv.type) {
            case DType::f16:
                launch_for_type<__half>(q, n_heads, kv, batch, tiles, n_tiles, plan, max_splits, ml,
                                        part, stream);
                break;
            case DType::bf16:
                launch_for_type<__nv_bfloat16>(q, n_heads, kv, batch, tiles, n_tiles, plan,
                                               max_splits, ml, part, stream);
                break;
            default:
                launch_for_type<float>(q, n_heads, kv, batch, tiles, n_tiles, plan, max_splits, ml,
                                       part, stream);
        }
    }
    const int64_t n_rows = batch.n_tokens * n_heads;
    launch(combine_kernel, unsigned((n_rows + k_combine_rows - 1) / k_combine_rows),
           32 * k_combine_rows, 0, stream, ml, part, batch.positions, n_rows, n_heads, kv.head_dim,
           max_splits, out);
}

}  // namespace encore::cuda
