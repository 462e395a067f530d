// Tensor-core paged attention: pools stored in f16 or bf16, head_dim 64 or 128.
//
// The same work split, masking and split arithmetic as attention.cu's CUDA-core kernel (a block
// takes a tile of consecutive tokens of one sequence and the query heads of one KV head: 128 query
// rows; keys are cut into splits of k_attention_split positions, each split streamed in chunks of
// 64 keys from its start, with an online softmax), but the two products run on the tensor cores:
// mma.sync m16n8k16 with the pool's 16-bit type as operands (Q and the softmax weights P rounded
// to it, as FlashAttention does) and f32 accumulation, K/V fragments read from shared memory by
// ldmatrix. All of a block's warps share each chunk of K/V (128 rows: 32 tokens of a GQA group of
// 4). Chunks are double-buffered: the next one is copied with cp.async while the current one is
// multiplied, one barrier per chunk. The softmax runs in base 2 (scores scaled by log2(e) with
// the head scale in one multiply-add, weights by the special-function unit's 2^x), and the causal
// mask is applied only to chunks that reach past a warp's lowest position: elsewhere every key is
// visible and the same arithmetic runs without it. A row's arithmetic depends on its own query
// and position only.
//
// Two ways to combine splits, with the same bits: a block per split writing (m, l, acc) for
// attention.cu's combine kernel (decode: few tiles, many splits, so the splits give the
// parallelism; 8 warps of one 16-row mma tile each), or a block walking every split of its tile
// in order and combining as it goes (prefill: enough tiles to fill the GPU, and no partial
// results through memory; 4 warps of two tiles each, so each K/V fragment feeds two mma, with the
// running combination in shared memory). Both combine with attention_combine.cuh, in split order.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <atomic>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>

#include "backend/cuda/attention_combine.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"

namespace encore::cuda {

namespace {

constexpr int k_rows = k_attention_mma_rows;  // query rows per block
constexpr int k_chunk = 64;                   // keys per step
constexpr int k_pad = 8;                      // elements of padding per shared row (16 bytes)

// How a block's warps share its rows. The split path (decode: few rows, the splits give the
// parallelism) gives each of 8 warps one 16-row mma tile. The fused path (prefill) gives each of
// 4 warps two tiles, so that every K and V fragment read from shared memory feeds two mma
// instead of one (shared-memory reads per multiply-add halve); its running combination of the
// splits lives in shared memory, since two tiles' outputs already fill the registers.
template <bool Fused>
struct Warps {
    static constexpr int tiles = Fused ? 2 : 1;  // 16-row mma tiles per warp
    static constexpr int count = k_rows / (16 * tiles);
    static constexpr int threads = 32 * count;
};

template <typename T>
struct Mma;

template <>
struct Mma<__half> {
    static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
        const __half2 h = __floats2half2_rn(lo, hi);
        return *reinterpret_cast<const uint32_t*>(&h);
    }
    // d += a · b: a [16 x 16] row-major fragment, b [16 x 8] column-major fragment.
    static __device__ __forceinline__ void run(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                               uint32_t b1) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
            "{%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
};

template <>
struct Mma<__nv_bfloat16> {
    static __device__ __forceinline__ uint32_t pack(float lo, float hi) {
        const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
        return *reinterpret_cast<const uint32_t*>(&h);
    }
    static __device__ __forceinline__ void run(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                               uint32_t b1) {
        asm volatile(
            "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
            "{%8,%9}, {%0,%1,%2,%3};\n"
            : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
            : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
    }
};

// Four 8x8 matrices of 16-bit elements from shared memory, lane i naming row i % 8 of matrix
// i / 8: r[m] holds this lane's fragment of matrix m (row lane / 4, columns 2 * (lane % 4) + {0,
// 1}; with .trans, of the transposed matrix).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* row) {
    const uint32_t a = uint32_t(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* row) {
    const uint32_t a = uint32_t(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}

// Asynchronous 16-byte copies global -> shared (cp.async, sm_80+): the next chunk of K/V loads
// while the current one is multiplied.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
    const uint32_t a = uint32_t(__cvta_generic_to_shared(smem));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(a), "l"(gmem) : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}
// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// 2^x by the special-function unit (about 2 ulp; 0 for -inf, subnormal results flushed to 0).
__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
// A running max kept in log2 units, in the natural units the split combination takes.
__device__ __forceinline__ float natural(float m_log2) {
    return __fmul_rn(m_log2, 0.6931471805599453f);
}

// Shared memory of a block: two buffers of a chunk of K and of V, [2][k_chunk][D + k_pad] each,
// then the block's queries in the pool's type, [k_rows][D + k_pad], then the pool block of each
// key of the two buffers, int32 [2][k_chunk]; the fused path adds its running combination of the
// splits: f32 numerators [k_rows][D + k_comb_pad], then (big, den) of each row as each of its four
// threads holds them, float2 [k_rows][4].
constexpr int k_comb_pad = 8;  // rows 8 banks apart: a half-warp's float2 accesses never collide

template <typename T, int D, bool Fused>
constexpr int smem_bytes() {
    return (2 * 2 * k_chunk + k_rows) * (D + k_pad) * int(sizeof(T)) +
           2 * k_chunk * int(sizeof(int32_t)) +
           (Fused ? k_rows * (D + k_comb_pad + 4 * 2) * int(sizeof(float)) : 0);
}

// The row state of one split, for this thread's rows of each of the warp's MT tiles: running max
// m, sum l, unnormalized output o (o[t][dt][0..1] row g of tile t, o[t][dt][2..3] row g + 8,
// columns dt * 8 + 2 * (lane % 4) + {0, 1}).
template <int D, int MT>
struct SplitState {
    float m[MT][2], l[MT][2];
    float o[MT][D / 8][4];
};

template <typename T, int D, bool Fused>
__device__ __forceinline__ void attention_mma(const float* __restrict__ q, int n_heads,
                                              KvDeviceView kv, BatchDevice batch,
                                              const AttentionTile* __restrict__ tiles,
                                              AttentionPlan plan, int max_splits, float scale,
                                              float* __restrict__ ml, float* __restrict__ part,
                                              AttentionOut out) {
    constexpr int MT = Warps<Fused>::tiles;
    constexpr int k_threads = Warps<Fused>::threads;
    // [2 buffers * k_chunk keys][D + k_pad dims] of K, then of V, then Q [k_rows][D + k_pad],
    // then the pool blocks of the buffers' keys [2][k_chunk], then (fused) the combination's
    // numerators [k_rows][D + k_comb_pad] and (big, den) [k_rows][4].
    extern __shared__ __align__(16) unsigned char smem[];
    using Row = T[D + k_pad];
    Row* k_s = reinterpret_cast<Row*>(smem);
    Row* v_s = k_s + 2 * k_chunk;
    Row* q_s = v_s + 2 * k_chunk;
    int32_t(*blk_s)[k_chunk] = reinterpret_cast<int32_t(*)[k_chunk]>(q_s + k_rows);
    using CombRow = float[D + k_comb_pad];
    CombRow* comb_s = reinterpret_cast<CombRow*>(blk_s + 2);
    float2(*comb_ml)[4] = reinterpret_cast<float2(*)[4]>(comb_s + k_rows);

    // Fused blocks take the tiles last to first: a sequence's later tiles attend over more keys,
    // and starting them first leaves the short ones to fill the last wave.
    const int n_tiles = int(gridDim.x) / plan.head_chunks;
    const int tile_index = int(blockIdx.x) / plan.head_chunks;
    const AttentionTile tile = tiles[Fused ? n_tiles - 1 - tile_index : tile_index];
    const int head_chunk = int(blockIdx.x % plan.head_chunks);
    const int kvh = int(blockIdx.y);
    const int group = n_heads / kv.n_kv_heads;
    const int lane = int(threadIdx.x % 32), warp = int(threadIdx.x / 32);
    const int g = lane / 4, t4 = lane % 4;

    // Query rows r = token_in_tile * heads_per_block + head_in_block; this thread's rows are
    // warp * 16 * MT + 16 * t + g + 8 * i for tile t < MT and i < 2. The row of q and out (token
    // * n_heads + head) of block row r, or -1 where r holds no query.
    auto query_row = [&](int r) -> int64_t {
        const int head_in_group = head_chunk * plan.heads_per_block + r % plan.heads_per_block;
        const bool valid = r / plan.heads_per_block < tile.n_tokens &&
                           r < plan.tile_tokens * plan.heads_per_block && head_in_group < group;
        const int64_t token = tile.first_token + r / plan.heads_per_block;
        return valid ? token * n_heads + kvh * group + head_in_group : -1;
    };
    auto block_row = [&](int t, int i) { return warp * 16 * MT + 16 * t + g + 8 * i; };
    // The position of each of this thread's rows (-1: no query); their rows of q and out are
    // computed again where they are needed, which frees registers.
    int qpos[MT][2];
    bool any_row = false;
#pragma unroll
    for (int t = 0; t < MT; ++t)
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            const int64_t row = query_row(block_row(t, i));
            qpos[t][i] = row >= 0 ? batch.positions[row / n_heads] : -1;
            any_row = any_row || qpos[t][i] >= 0;
        }
    const bool warp_active = __any_sync(0xffffffffu, any_row);

    // Q rounded to the pool's type into shared memory (zeros for rows without a query), read
    // back as A fragments by ldmatrix; 8 dims (two float4 loads) per copy, a row's D / 8 copies
    // contiguous.
    for (int idx = int(threadIdx.x); idx < k_rows * D / 8; idx += k_threads) {
        const int r = idx / (D / 8), c = (idx % (D / 8)) * 8;
        const int64_t row = query_row(r);
        float4 x0 = make_float4(0, 0, 0, 0), x1 = x0;
        if (row >= 0) {
            x0 = *reinterpret_cast<const float4*>(q + row * D + c);
            x1 = *reinterpret_cast<const float4*>(q + row * D + c + 4);
        }
        *reinterpret_cast<uint4*>(&q_s[r][c]) =
            make_uint4(Mma<T>::pack(x0.x, x0.y), Mma<T>::pack(x0.z, x0.w), Mma<T>::pack(x1.x, x1.y),
                       Mma<T>::pack(x1.z, x1.w));
    }

    const T* pool = static_cast<const T*>(kv.pool);
    const int32_t* table = batch.tables + batch.table_offsets[tile.seq];
    const int64_t v_offset = int64_t(kv.n_kv_heads) * kv.block_size * D;
    // Block of a position: shifts when the block size is a power of two (the default 16).
    const int bs = kv.block_size;
    const int bs_shift = (bs & (bs - 1)) == 0 ? __ffs(bs) - 1 : -1;
    auto block_of = [&](int p) { return bs_shift >= 0 ? p >> bs_shift : p / bs; };
    auto in_block = [&](int p) { return bs_shift >= 0 ? p & (bs - 1) : p % bs; };
    // The lowest position of this warp's valid rows: chunks whose keys all lie at or below it
    // need no causal mask (the same arithmetic as the masked path on every visible key).
    int warp_min_pos = INT_MAX;
#pragma unroll
    for (int t = 0; t < MT; ++t)
#pragma unroll
        for (int i = 0; i < 2; ++i)
            if (qpos[t][i] >= 0) warp_min_pos = min(warp_min_pos, qpos[t][i]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        warp_min_pos = min(warp_min_pos, __shfl_xor_sync(0xffffffffu, warp_min_pos, o));
    // Scores in base 2: p = 2^(s * scale * log2(e) - m), m in log2 units; a split's m is given
    // to the combination in natural units (m * ln 2), as attention.cu's kernel gives it.
    const float scale2 = scale * 1.4426950408889634f;

    // Fused: the combination of the splits so far, per row, in shared memory (each thread owns
    // the elements it reads, so no barrier): the numerators of its columns, and (big, den).
    if constexpr (Fused) {
#pragma unroll
        for (int t = 0; t < MT; ++t)
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                comb_ml[block_row(t, i)][t4] = float2{-INFINITY, 0.0f};
#pragma unroll
                for (int dt = 0; dt < D / 8; ++dt)
                    *reinterpret_cast<float2*>(&comb_s[block_row(t, i)][dt * 8 + 2 * t4]) =
                        float2{0.0f, 0.0f};
            }
    }

    // The chunks of keys this block walks: every split of the tile (fused) or split blockIdx.z,
    // in order; splits are whole chunks (k_attention_split a multiple of k_chunk), all but the
    // tile's last one full. Chunk c + 1 is copied into the other buffer while c is multiplied.
    static_assert(k_attention_split % k_chunk == 0);
    const int first_split = Fused ? 0 : int(blockIdx.z);
    const int last_split = Fused ? tile.max_pos / k_attention_split : int(blockIdx.z);
    const int begin = first_split * k_attention_split;
    if (begin > tile.max_pos) return;
    const int end = min((last_split + 1) * k_attention_split, tile.max_pos + 1);
    // K and V rows of the chunk at c0 into buffer buf, 16 bytes (8 elements) per copy; keys past
    // the tile's last position are zeros (their weights are exact zeros). A thread copies the
    // same 16 bytes of rows threadIdx.x / (D / 8) + k * (k_threads / (D / 8)).
    constexpr int k_row_pieces = D / 8;
    constexpr int k_rows_per_pass = k_threads / k_row_pieces;
    const int piece_col = (int(threadIdx.x) % k_row_pieces) * 8;
    const int piece_row = int(threadIdx.x) / k_row_pieces;
    constexpr int k_passes = k_chunk / k_rows_per_pass;
    // The pool block of each key of the chunk at c0 into blk_s[buf] (-1: past the tile's last
    // position), read from the block table ahead of the copies that use them (one barrier
    // between).
    static_assert(k_chunk <= k_threads);
    auto chunk_blocks = [&](int buf, int c0) {
        const int p = c0 + int(threadIdx.x);
        if (threadIdx.x < k_chunk)
            blk_s[buf][threadIdx.x] = p <= tile.max_pos ? table[block_of(p)] : -1;
    };
    auto load_chunk = [&](int buf, int c0) {
#pragma unroll
        for (int pass = 0; pass < k_passes; ++pass) {
            const int j = piece_row + pass * k_rows_per_pass;
            T* kd = &k_s[buf * k_chunk + j][piece_col];
            T* vd = &v_s[buf * k_chunk + j][piece_col];
            const int32_t blk = blk_s[buf][j];
            if (blk >= 0) {
                const int64_t at = int64_t(blk) * kv.block_stride + kv.instance_offset +
                                   (int64_t(kvh) * bs + in_block(c0 + j)) * D + piece_col;
                cp_async16(kd, pool + at);
                cp_async16(vd, pool + at + v_offset);
            } else {
                *reinterpret_cast<uint4*>(kd) = make_uint4(0, 0, 0, 0);
                *reinterpret_cast<uint4*>(vd) = make_uint4(0, 0, 0, 0);
            }
        }
        cp_async_commit();
    };
    chunk_blocks(0, begin);
    __syncthreads();
    load_chunk(0, begin);
    SplitState<D, MT> st;
    int buf = 0;
    // Splits in order, each from a fresh row state; chunks of a split in order.
    for (int split = first_split; split <= last_split; ++split) {
        const int split_end = min((split + 1) * k_attention_split, tile.max_pos + 1);
#pragma unroll
        for (int t = 0; t < MT; ++t)
#pragma unroll
            for (int i = 0; i < 2; ++i) st.m[t][i] = -INFINITY, st.l[t][i] = 0.0f;
#pragma unroll
        for (int t = 0; t < MT; ++t)
#pragma unroll
            for (int dt = 0; dt < D / 8; ++dt)
#pragma unroll
                for (int e = 0; e < 4; ++e) st.o[t][dt][e] = 0.0f;
        for (int c0 = split * k_attention_split; c0 < split_end; c0 += k_chunk, buf ^= 1) {
            // One barrier per chunk: after it this chunk is in shared memory for every warp, and
            // every warp is done with the other buffer (read in the previous step), which is then
            // refilled with the next chunk while this one is multiplied. The next chunk's block
            // table entries are read before the wait (blk_s[buf ^ 1] was last read by the copies
            // issued after the previous barrier).
            const bool more = c0 + k_chunk < end;
            if (more) chunk_blocks(buf ^ 1, c0 + k_chunk);
            cp_async_wait<0>();
            __syncthreads();
            if (more) load_chunk(buf ^ 1, c0 + k_chunk);
            if (warp_active) {
                // S = Q · Kᵀ: s[t][nt] holds keys nt * 8 + 2 * t4 + {0, 1} of tile t's rows g (0,
                // 1) and g + 8 (2, 3). A fragments of Q (rows warp * 16 * MT + 16 * t + lane %
                // 16, dims kk * 16 + 8 * (lane / 16)), one k-step at a time; B fragments of K:
                // matrices (keys (nt + m / 2) * 8.., dims kk * 16 + 8 * (m % 2)) for m = 0..3
                // give b0, b1 of key groups nt and nt + 1, for every tile. Each s[t][nt] sums its
                // k-steps in order.
                float s[MT][k_chunk / 8][4];
#pragma unroll
                for (int t = 0; t < MT; ++t)
#pragma unroll
                    for (int nt = 0; nt < k_chunk / 8; ++nt)
#pragma unroll
                        for (int e = 0; e < 4; ++e) s[t][nt][e] = 0.0f;
#pragma unroll
                for (int kk = 0; kk < D / 16; ++kk) {
                    uint32_t qa[MT][4];
#pragma unroll
                    for (int t = 0; t < MT; ++t)
                        ldmatrix_x4(
                            qa[t],
                            &q_s[warp * 16 * MT + 16 * t + lane % 16][kk * 16 + (lane / 16) * 8]);
#pragma unroll
                    for (int nt = 0; nt < k_chunk / 8; nt += 2) {
                        uint32_t b[4];
                        ldmatrix_x4(b, &k_s[buf * k_chunk + nt * 8 + (lane / 16) * 8 + lane % 8]
                                           [kk * 16 + (lane / 8 % 2) * 8]);
#pragma unroll
                        for (int t = 0; t < MT; ++t) {
                            Mma<T>::run(s[t][nt], qa[t], b[0], b[1]);
                            Mma<T>::run(s[t][nt + 1], qa[t], b[2], b[3]);
                        }
                    }
                }

                // Online softmax (the four threads of a quad share a row): the row's max of the raw
                // scores it sees, then weights 2^(s * scale2 - m). Keys past a row's position are
                // masked only in chunks that reach past the warp's lowest position.
                // P packed to the pool's type as each row's weights are computed: p[t][nt][i] holds
                // keys nt * 8 + 2 * t4 + {0, 1} of row g + 8 * i of tile t.
                uint32_t p[MT][k_chunk / 8][2];
                float alpha[MT][2];
                bool moved = false;
                const bool masked = c0 + k_chunk - 1 > warp_min_pos;
#pragma unroll
                for (int t = 0; t < MT; ++t)
#pragma unroll
                    for (int i = 0; i < 2; ++i) {
                        float cmax = -INFINITY;
                        if (masked) {
#pragma unroll
                            for (int nt = 0; nt < k_chunk / 8; ++nt)
#pragma unroll
                                for (int e = 0; e < 2; ++e) {
                                    float& v = s[t][nt][2 * i + e];
                                    v = c0 + nt * 8 + 2 * t4 + e <= qpos[t][i] ? v : -INFINITY;
                                    cmax = fmaxf(cmax, v);
                                }
                        } else {
#pragma unroll
                            for (int nt = 0; nt < k_chunk / 8; ++nt)
                                cmax = fmaxf(cmax, fmaxf(s[t][nt][2 * i], s[t][nt][2 * i + 1]));
                        }
                        cmax = fmaxf(cmax, __shfl_xor_sync(0xffffffffu, cmax, 1));
                        cmax = fmaxf(cmax, __shfl_xor_sync(0xffffffffu, cmax, 2));
                        const float m_new = fmaxf(st.m[t][i], __fmul_rn(cmax, scale2));
                        // Nothing visible yet (masked chunks only): the row stays as it is (alpha
                        // 1, weights 0); otherwise masked keys (-inf) get 2^-inf = 0.
                        const bool none = m_new == -INFINITY;
                        const float neg_m = none ? 0.0f : -m_new;
                        float psum = 0.0f;
#pragma unroll
                        for (int nt = 0; nt < k_chunk / 8; ++nt) {
#pragma unroll
                            for (int e = 0; e < 2; ++e) {
                                float& v = s[t][nt][2 * i + e];
                                v = fast_exp2(__fmaf_rn(v, scale2, neg_m));
                                psum = __fadd_rn(psum, v);
                            }
                            p[t][nt][i] = Mma<T>::pack(s[t][nt][2 * i], s[t][nt][2 * i + 1]);
                        }
                        psum = __fadd_rn(psum, __shfl_xor_sync(0xffffffffu, psum, 1));
                        psum = __fadd_rn(psum, __shfl_xor_sync(0xffffffffu, psum, 2));
                        // m = -inf: 0
                        alpha[t][i] = none ? 1.0f : fast_exp2(__fsub_rn(st.m[t][i], m_new));
                        st.l[t][i] = __fadd_rn(__fmul_rn(st.l[t][i], alpha[t][i]), psum);
                        st.m[t][i] = m_new;
                        moved = moved || alpha[t][i] != 1.0f;
                    }
                // Rescale the outputs where a row's max moved (a multiplication by 1 changes
                // nothing, so skipping it when no row of the warp moved gives the same bits).
                if (__any_sync(0xffffffffu, moved)) {
#pragma unroll
                    for (int t = 0; t < MT; ++t)
#pragma unroll
                        for (int dt = 0; dt < D / 8; ++dt) {
                            st.o[t][dt][0] = __fmul_rn(st.o[t][dt][0], alpha[t][0]);
                            st.o[t][dt][1] = __fmul_rn(st.o[t][dt][1], alpha[t][0]);
                            st.o[t][dt][2] = __fmul_rn(st.o[t][dt][2], alpha[t][1]);
                            st.o[t][dt][3] = __fmul_rn(st.o[t][dt][3], alpha[t][1]);
                        }
                }

                // O += P · V, 16 keys per step; P's C fragments are A fragments as they stand.
#pragma unroll
                for (int ks = 0; ks < k_chunk / 16; ++ks) {
                    uint32_t a[MT][4];
#pragma unroll
                    for (int t = 0; t < MT; ++t) {
                        a[t][0] = p[t][2 * ks][0];
                        a[t][1] = p[t][2 * ks][1];
                        a[t][2] = p[t][2 * ks + 1][0];
                        a[t][3] = p[t][2 * ks + 1][1];
                    }
                    // Transposed matrices (keys ks * 16 + 8 * (m % 2).., dims dt * 8 + 8 * (m / 2))
                    // give b0, b1 of column groups dt and dt + 1, for every tile.
#pragma unroll
                    for (int dt = 0; dt < D / 8; dt += 2) {
                        uint32_t b[4];
                        ldmatrix_x4_trans(b, &v_s[buf * k_chunk + ks * 16 + (lane / 8 % 2) * 8 +
                                                  lane % 8][dt * 8 + (lane / 16) * 8]);
#pragma unroll
                        for (int t = 0; t < MT; ++t) {
                            Mma<T>::run(st.o[t][dt], a[t], b[0], b[1]);
                            Mma<T>::run(st.o[t][dt + 1], a[t], b[2], b[3]);
                        }
                    }
                }
            }

        }                   // the split's chunks
        if (warp_active) {  // the split ends
#pragma unroll
            for (int t = 0; t < MT; ++t)
#pragma unroll
                for (int i = 0; i < 2; ++i) {
                    if constexpr (Fused) {
                        // The running combination (attention_combine.cuh) takes the split.
                        float a, b;
                        float2& big_den = comb_ml[block_row(t, i)][t4];
                        if (!combine_step(big_den.x, big_den.y, natural(st.m[t][i]), st.l[t][i], a,
                                          b))
                            continue;
                        float* num = comb_s[block_row(t, i)];
#pragma unroll
                        for (int dt = 0; dt < D / 8; ++dt) {
                            float2& n2 = *reinterpret_cast<float2*>(num + dt * 8 + 2 * t4);
                            n2 = float2{combine_value(n2.x, a, st.o[t][dt][2 * i], b),
                                        combine_value(n2.y, a, st.o[t][dt][2 * i + 1], b)};
                        }
                    } else {
                        if (qpos[t][i] < 0) continue;
                        const int64_t slot = query_row(block_row(t, i)) * max_splits + split;
                        if (t4 == 0) {
                            ml[slot * 2] = natural(st.m[t][i]);
                            ml[slot * 2 + 1] = st.l[t][i];
                        }
#pragma unroll
                        for (int dt = 0; dt < D / 8; ++dt)
                            *reinterpret_cast<float2*>(part + slot * D + dt * 8 + 2 * t4) =
                                float2{st.o[t][dt][2 * i], st.o[t][dt][2 * i + 1]};
                    }
                }
        }
    }  // splits
    if constexpr (Fused) {
#pragma unroll
        for (int t = 0; t < MT; ++t)
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                if (qpos[t][i] < 0) continue;
                const float* num = comb_s[block_row(t, i)];
                const float den = comb_ml[block_row(t, i)][t4].y;
#pragma unroll
                for (int dt = 0; dt < D / 8; ++dt) {
                    const float2 n2 = *reinterpret_cast<const float2*>(num + dt * 8 + 2 * t4);
                    store_attention_out2(out, query_row(block_row(t, i)) * D + dt * 8 + 2 * t4,
                                         __fdiv_rn(n2.x, den), __fdiv_rn(n2.y, den));
                }
            }
    }
}

// The fused variant of head_dim 128 needs more registers than Ampere's compiler keeps it in (it
// spills there): it is built for Hopper only, and attention_fused() says no on older GPUs.
template <typename T, int D, bool Fused>
__global__ void __launch_bounds__(Warps<Fused>::threads, 1)
    attention_mma_kernel(const float* __restrict__ q, int n_heads, KvDeviceView kv,
                         BatchDevice batch, const AttentionTile* __restrict__ tiles,
                         AttentionPlan plan, int max_splits, float scale, float* __restrict__ ml,
                         float* __restrict__ part, AttentionOut out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
    if constexpr (Fused && D == 128) {
        __trap();
    } else
#endif
    {
        wait_for_previous_kernel();
        attention_mma<T, D, Fused>(q, n_heads, kv, batch, tiles, plan, max_splits, scale, ml, part,
                                   out);
    }
}

template <typename T, int D>
void launch_typed(bool fused, const float* q, int n_heads, const KvDeviceView& kv,
                  const BatchDevice& batch, const AttentionTile* tiles, int n_tiles,
                  const AttentionPlan& plan, int max_splits, float* ml, float* part,
                  const AttentionOut& out, cudaStream_t stream) {
    const float scale = 1.0f / sqrtf(float(D));
    // Over the 48 KiB a launch gets without asking.
    constexpr int smem_split = smem_bytes<T, D, false>(), smem_fused = smem_bytes<T, D, true>();
    // The opt-in is a per-device attribute of the kernels: asked once on each device.
    static std::atomic<uint64_t> opted_in{0};
    int device = 0;
    cudaGetDevice(&device);
    const uint64_t bit = uint64_t(1) << (device % 64);
    if (!(opted_in.load() & bit)) {
        cudaFuncSetAttribute(attention_mma_kernel<T, D, true>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, smem_fused);
        cudaFuncSetAttribute(attention_mma_kernel<T, D, false>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, smem_split);
        opted_in.fetch_or(bit);
    }
    if (fused) {
        const dim3 grid(unsigned(n_tiles * plan.head_chunks), unsigned(kv.n_kv_heads), 1);
        launch(attention_mma_kernel<T, D, true>, grid, Warps<true>::threads, smem_fused, stream, q,
               n_heads, kv, batch, tiles, plan, max_splits, scale, ml, part, out);
    } else {
        const dim3 grid(unsigned(n_tiles * plan.head_chunks), unsigned(kv.n_kv_heads),
                        unsigned(max_splits));
        launch(attention_mma_kernel<T, D, false>, grid, Warps<false>::threads, smem_split, stream,
               q, n_heads, kv, batch, tiles, plan, max_splits, scale, ml, part, out);
    }
}

template <typename T>
void launch_for_dim(bool fused, const float* q, int n_heads, const KvDeviceView& kv,
                    const BatchDevice& batch, const AttentionTile* tiles, int n_tiles,
                    const AttentionPlan& plan, int max_splits, float* ml, float* part,
                    const AttentionOut& out, cudaStream_t stream) {
    if (kv.head_dim == 64)
        launch_typed<T, 64>(fused, q, n_heads, kv, batch, tiles, n_tiles, plan, max_splits, ml,
                            part, out, stream);
    else
        launch_typed<T, 128>(fused, q, n_heads, kv, batch, tiles, n_tiles, plan, max_splits, ml,
                             part, out, stream);
}

}  // namespace

bool attention_mma_fits(DType kv_type, int head_dim, const AttentionPlan& plan) {
    return (kv_type == DType::f16 || kv_type == DType::bf16) &&
           (head_dim == 64 || head_dim == 128) && plan.tile_tokens * plan.heads_per_block <= k_rows;
}

void launch_attention_mma(bool fused, const float* q, int n_heads, const KvDeviceView& kv,
                          const BatchDevice& batch, const AttentionTile* tiles, int n_tiles,
                          const AttentionPlan& plan, int max_splits, float* ml, float* part,
                          const AttentionOut& out, cudaStream_t stream) {
    if (kv.type == DType::f16)
        launch_for_dim<__half>(fused, q, n_heads, kv, batch, tiles, n_tiles, plan, max_splits, ml,
                               part, out, stream);
    else
        launch_for_dim<__nv_bfloat16>(fused, q, n_heads, kv, batch, tiles, n_tiles, plan,
                                      max_splits, ml, part, out, stream);
}

}  // namespace encore::cuda
