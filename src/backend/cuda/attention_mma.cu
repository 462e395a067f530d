// Tensor-core paged attention: pools stored in f16 or bf16, head_dim 64 or 128.
//
// The same work split, masking and split arithmetic as attention.cu's CUDA-core kernel (a block
// takes a tile of consecutive tokens of one sequence and the query heads of one KV head: 128 query
// rows; keys are cut into splits of k_attention_split positions, each split streamed in chunks of
// 64 keys from its start, with an online softmax), but the two products run on the tensor cores:
// mma.sync m16n8k16 with the pool's 16-bit type as operands (Q and the softmax weights P rounded
// to it, as FlashAttention does) and f32 accumulation, K/V fragments read from shared memory by
// ldmatrix. Eight warps of 16 query rows share each chunk of K/V (128 rows: 32 tokens of a GQA
// group of 4), which halves the K/V traffic of 64-row blocks. Chunks are double-buffered: the
// next one is copied with cp.async while the current one is multiplied, one barrier per chunk.
// The softmax runs in base 2 (scores scaled by log2(e) with the head scale in one multiply-add,
// weights by the special-function unit's 2^x), and the causal mask is applied only to chunks
// that reach past a warp's lowest position: elsewhere every key is visible and the same
// arithmetic runs without it. A row's arithmetic depends on its own query and position only.
//
// Two ways to combine splits, with the same bits: a block per split writing (m, l, acc) for
// attention.cu's combine kernel (decode: few tiles, many splits, so the splits give the
// parallelism), or a block walking every split of its tile in order and combining as it goes
// (prefill: enough tiles to fill the GPU, and no partial results through memory). Both combine
// with attention_combine.cuh, in split order.
//
// Built for sm_90a (CMAKE_CUDA_ARCHITECTURES=90a), both products run as Hopper's warpgroup MMA
// instead (wgmma: each group of four warps multiplies its 64 rows at once, the operands read by
// the tensor cores from shared memory in the 128-byte swizzle layout, P from registers): S = Q ·
// Kᵀ by D / 16 m64n64k16 per chunk, O += P · V by four m64nDk16, the softmax between them as
// above. -DENCORE_ATTENTION_WGMMA_PV_OFF keeps P · V on mma.sync. Every other build (sm_90,
// sm_80) runs mma.sync as before; the default build (CMakeLists.txt) is for sm_90a. Measured on an
// H100 (2026-12-07, Llama-3-8B shape, builds run in turn in one lease, bench/RESULTS.md) against
// mma.sync: prefill of 8192 tokens 30195 tok/s against 28090 (+7.5%), of 512 +1.3%, scoring
// +4.0%; S alone on wgmma gave +2.6% and +2.1%. The scoring checksum (256 items) was the same
// to all its digits. A chunk's P · V then runs one step late, issued beside the next chunk's S,
// so that its softmax overlaps the tensor cores (same bits; V in three buffers): +4.3% at a
// 2048-token prefill, +1.6% at 8192, +1.3% scoring (H100, 2026-12-07).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <atomic>
#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "backend/cuda/attention_combine.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"

// S = Q · Kᵀ by wgmma in the device code built for sm_90a (below), by mma.sync otherwise.
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define ENCORE_ATTENTION_WGMMA 1
#else
#define ENCORE_ATTENTION_WGMMA 0
#endif
// O += P · V by wgmma too, unless built with -DENCORE_ATTENTION_WGMMA_PV_OFF (for comparisons).
#if ENCORE_ATTENTION_WGMMA && !defined(ENCORE_ATTENTION_WGMMA_PV_OFF)
#define ENCORE_ATTENTION_WGMMA_PV 1
#else
#define ENCORE_ATTENTION_WGMMA_PV 0
#endif

namespace encore::cuda {

namespace {

constexpr int k_warps = 8;
constexpr int k_rows = 16 * k_warps;  // query rows per block (k_attention_mma_rows)
static_assert(k_rows == k_attention_mma_rows);
constexpr int k_chunk = 64;  // keys per step
constexpr int k_pad = 8;     // elements of padding per shared row (16 bytes)

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
#if !ENCORE_ATTENTION_WGMMA
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* row) {
    const uint32_t a = uint32_t(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}
#endif
#if !ENCORE_ATTENTION_WGMMA_PV
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* row) {
    const uint32_t a = uint32_t(__cvta_generic_to_shared(row));
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(a));
}
#endif

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
// then the block's queries in the pool's type, [k_rows][D + k_pad].
template <typename T, int D>
constexpr int smem_bytes_mma() {
    return (2 * 2 * k_chunk + k_rows) * (D + k_pad) * int(sizeof(T));
}

// Hopper's warpgroup MMA (wgmma, built for sm_90a only). Each warpgroup (4 warps, 64 query rows)
// multiplies its rows of Q by the chunk's 64 keys with D / 16 instructions m64n64k16, both
// operands read by the tensor cores from shared memory, instead of 64 mma.sync and 40 ldmatrix
// per warp; then O += P · V with four m64nDk16, P from registers, instead of 64 mma.sync and 32
// ldmatrix. The accumulator fragments are mma.sync's (warp w of the group holds rows 16 w + lane
// / 4 and + 8, columns 8 nt + 2 (lane % 4) + {0, 1}), and so is P's A fragment, so the softmax
// between the two products is unchanged. K, Q and V sit in the layout the descriptors name: rows
// of 64 elements (128 bytes) per half of D, [D / 64][rows][64], the 16-byte pieces of row r at
// piece p ^ (r % 8) (the 128-byte swizzle), each region 1024-byte aligned: K and Q K-major (1024
// bytes between groups of 8 rows), V MN-major (keys by dims: 1024 bytes between groups of 8
// keys, k_chunk * 128 between blocks of 64 dims).
// Byte offset of element (r, c) of a swizzled operand of `rows` rows (c a multiple of 8: the
// 16-byte piece that holds c .. c + 7).
template <int Rows>
__host__ __device__ constexpr int swizzled_offset(int r, int c) {
    return (c / 64) * Rows * 128 + r * 128 + ((((c % 64) / 8) ^ (r % 8)) * 16);
}

// Shared memory of the wgmma layout: K [2 buffers][D / 64][k_chunk][64] and Q [D / 64][k_rows][64]
// swizzled, then V: three buffers [D / 64][k_chunk][64] swizzled (P · V on wgmma reads a chunk's V
// one step after its K, so three chunks of V are live: read, loaded, loading), or two
// [k_chunk][D + k_pad] as for mma.sync; plus 1024 bytes to align the base. The host cannot tell
// which the device code was built with and asks for the larger.
constexpr int k_v_buffers_wgmma = 3;
template <typename T, int D>
constexpr int smem_bytes_wgmma() {
    return 2 * k_chunk * D * int(sizeof(T)) + k_rows * D * int(sizeof(T)) +
           k_v_buffers_wgmma * k_chunk * (D + k_pad) * int(sizeof(T)) + 1024;
}
template <typename T, int D>
constexpr int smem_bytes() {
    return smem_bytes_mma<T, D>() > smem_bytes_wgmma<T, D>() ? smem_bytes_mma<T, D>()
                                                             : smem_bytes_wgmma<T, D>();
}

#if ENCORE_ATTENTION_WGMMA
// A K-major operand descriptor: start address, stride of 1024 bytes between groups of 8 rows,
// 128-byte swizzle (the leading offset is unused in this layout).
__device__ __forceinline__ uint64_t wgmma_descriptor(const void* smem_at) {
    const uint32_t a = uint32_t(__cvta_generic_to_shared(smem_at));
    uint64_t d = 0;
    d |= uint64_t((a & 0x3FFFF) >> 4);
    d |= uint64_t(1) << 16;          // leading byte offset (unused), in 16-byte units
    d |= uint64_t(1024 >> 4) << 32;  // stride byte offset
    d |= uint64_t(1) << 62;          // 128-byte swizzle
    return d;
}
__device__ __forceinline__ void wgmma_fence() {
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
// Waits until at most N of this thread's committed warpgroup MMA groups are still running.
template <int N>
__device__ __forceinline__ void wgmma_wait() {
    asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Pins an accumulator at this point of the program: the compiler may not move its reads or writes
// across the call, so none of them lands between an MMA that runs on it asynchronously and the
// wait for that MMA.
template <int N>
__device__ __forceinline__ void fence_accumulator(float (&x)[N][4]) {
#pragma unroll
    for (int i = 0; i < N; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) asm volatile("" : "+f"(x[i][e])::"memory");
}
// Shared memory written by this thread (st.shared, cp.async) made visible to the tensor cores'
// reads that follow the next barrier.
__device__ __forceinline__ void fence_shared_for_wgmma() {
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// The "+f" operands of a warpgroup MMA's f32 accumulator fragment x[N / 8][4], in order.
#define ENCORE_F32_OUTS_32(x)                                                                     \
    "+f"(x[0][0]), "+f"(x[0][1]), "+f"(x[0][2]), "+f"(x[0][3]), "+f"(x[1][0]), "+f"(x[1][1]),     \
        "+f"(x[1][2]), "+f"(x[1][3]), "+f"(x[2][0]), "+f"(x[2][1]), "+f"(x[2][2]), "+f"(x[2][3]), \
        "+f"(x[3][0]), "+f"(x[3][1]), "+f"(x[3][2]), "+f"(x[3][3]), "+f"(x[4][0]), "+f"(x[4][1]), \
        "+f"(x[4][2]), "+f"(x[4][3]), "+f"(x[5][0]), "+f"(x[5][1]), "+f"(x[5][2]), "+f"(x[5][3]), \
        "+f"(x[6][0]), "+f"(x[6][1]), "+f"(x[6][2]), "+f"(x[6][3]), "+f"(x[7][0]), "+f"(x[7][1]), \
        "+f"(x[7][2]), "+f"(x[7][3])
#define ENCORE_F32_OUTS_64(x)                                                           \
    ENCORE_F32_OUTS_32(x), "+f"(x[8][0]), "+f"(x[8][1]), "+f"(x[8][2]), "+f"(x[8][3]),  \
        "+f"(x[9][0]), "+f"(x[9][1]), "+f"(x[9][2]), "+f"(x[9][3]), "+f"(x[10][0]),     \
        "+f"(x[10][1]), "+f"(x[10][2]), "+f"(x[10][3]), "+f"(x[11][0]), "+f"(x[11][1]), \
        "+f"(x[11][2]), "+f"(x[11][3]), "+f"(x[12][0]), "+f"(x[12][1]), "+f"(x[12][2]), \
        "+f"(x[12][3]), "+f"(x[13][0]), "+f"(x[13][1]), "+f"(x[13][2]), "+f"(x[13][3]), \
        "+f"(x[14][0]), "+f"(x[14][1]), "+f"(x[14][2]), "+f"(x[14][3]), "+f"(x[15][0]), \
        "+f"(x[15][1]), "+f"(x[15][2]), "+f"(x[15][3])

// s += A · B for a 64 x 64 tile, k = 16: A and B K-major in shared memory (descriptors).
template <typename T>
__device__ __forceinline__ void wgmma_m64n64k16(float (&s)[k_chunk / 8][4], uint64_t a, uint64_t b);

#define ENCORE_WGMMA_M64N64K16(TYPE)                                                        \
    asm volatile(                                                                           \
        "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                        \
        "wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE                         \
        " "                                                                                 \
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "           \
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, " \
        "%32, %33, p, 1, 1, 0, 0;\n}\n"                                                     \
        : ENCORE_F32_OUTS_32(s)                                                             \
        : "l"(a), "l"(b), "r"(1))

template <>
__device__ __forceinline__ void wgmma_m64n64k16<__nv_bfloat16>(float (&s)[k_chunk / 8][4],
                                                               uint64_t a, uint64_t b) {
    static_assert(k_chunk == 64);
    ENCORE_WGMMA_M64N64K16("bf16");
}
template <>
__device__ __forceinline__ void wgmma_m64n64k16<__half>(float (&s)[k_chunk / 8][4], uint64_t a,
                                                        uint64_t b) {
    ENCORE_WGMMA_M64N64K16("f16");
}
#undef ENCORE_WGMMA_M64N64K16

#if ENCORE_ATTENTION_WGMMA_PV
// Descriptor of an MN-major operand (V: keys by dims, dims contiguous) in the 128-byte swizzle
// layout: 1024 bytes between groups of 8 keys, `atom_stride` bytes between blocks of 64 dims.
__device__ __forceinline__ uint64_t wgmma_descriptor_mn(const void* smem_at, int atom_stride) {
    const uint32_t a = uint32_t(__cvta_generic_to_shared(smem_at));
    uint64_t d = 0;
    d |= uint64_t((a & 0x3FFFF) >> 4);
    d |= uint64_t((atom_stride >> 4) & 0x3FFF) << 16;  // leading byte offset: next 64 dims
    d |= uint64_t(1024 >> 4) << 32;                    // stride byte offset: next 8 keys
    d |= uint64_t(1) << 62;                            // 128-byte swizzle
    return d;
}

// o += A · B for a 64 x N tile (N = D), k = 16: A (P) from registers as mma.sync's A fragment of
// this warp's 16 rows, B (V) MN-major in shared memory (transposed operand).
template <typename T, int N>
__device__ __forceinline__ void wgmma_pv(float (&o)[N / 8][4], const uint32_t (&a)[4], uint64_t b);

// The instruction for one type name of PTX ("bf16", "f16"), N = 64 and N = 128.
#define ENCORE_WGMMA_PV64(TYPE)                                                                  \
    asm volatile(                                                                                \
        "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"                                             \
        "wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE                              \
        " "                                                                                      \
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, " \
        "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "                     \
        "{%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"                                            \
        : ENCORE_F32_OUTS_32(o)                                                                  \
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1))
#define ENCORE_WGMMA_PV128(TYPE)                                                                 \
    asm volatile(                                                                                \
        "{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"                                             \
        "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE                             \
        " "                                                                                      \
        "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, " \
        "%19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, "  \
        "%36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, "  \
        "%53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "                               \
        "{%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"                                            \
        : ENCORE_F32_OUTS_64(o)                                                                  \
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1))

template <>
__device__ __forceinline__ void wgmma_pv<__nv_bfloat16, 64>(float (&o)[8][4],
                                                            const uint32_t (&a)[4], uint64_t b) {
    ENCORE_WGMMA_PV64("bf16");
}
template <>
__device__ __forceinline__ void wgmma_pv<__nv_bfloat16, 128>(float (&o)[16][4],
                                                             const uint32_t (&a)[4], uint64_t b) {
    ENCORE_WGMMA_PV128("bf16");
}
template <>
__device__ __forceinline__ void wgmma_pv<__half, 64>(float (&o)[8][4], const uint32_t (&a)[4],
                                                     uint64_t b) {
    ENCORE_WGMMA_PV64("f16");
}
template <>
__device__ __forceinline__ void wgmma_pv<__half, 128>(float (&o)[16][4], const uint32_t (&a)[4],
                                                      uint64_t b) {
    ENCORE_WGMMA_PV128("f16");
}
#undef ENCORE_WGMMA_PV64
#undef ENCORE_WGMMA_PV128
#endif  // ENCORE_ATTENTION_WGMMA_PV
#undef ENCORE_F32_OUTS_64
#undef ENCORE_F32_OUTS_32
#endif

// The A fragment of P for keys ks * 16 .. + 15: the softmax weights' C fragments s[2 ks] and
// s[2 ks + 1] (rows g and g + 8 of this warp), rounded to T and packed as they stand.
template <typename T>
__device__ __forceinline__ void p_fragment(const float (&s)[k_chunk / 8][4], int ks,
                                           uint32_t (&a)[4]) {
    a[0] = Mma<T>::pack(s[2 * ks][0], s[2 * ks][1]);
    a[1] = Mma<T>::pack(s[2 * ks][2], s[2 * ks][3]);
    a[2] = Mma<T>::pack(s[2 * ks + 1][0], s[2 * ks + 1][1]);
    a[3] = Mma<T>::pack(s[2 * ks + 1][2], s[2 * ks + 1][3]);
}

// The row state of one split: running max m, sum l, unnormalized output o (this thread's
// columns of the warp's rows g and g + 8: o[dt][0..1] row g, o[dt][2..3] row g + 8, columns
// dt * 8 + 2 * (lane % 4) + {0, 1}).
template <int D>
struct SplitState {
    float m[2], l[2];
    float o[D / 8][4];
};

template <typename T, int D, bool Fused>
__device__ __forceinline__ void attention_mma(const float* __restrict__ q, int n_heads,
                                              KvDeviceView kv, BatchDevice batch,
                                              const AttentionTile* __restrict__ tiles,
                                              AttentionPlan plan, int max_splits, float scale,
                                              float* __restrict__ ml, float* __restrict__ part,
                                              AttentionOut out) {
    // [2 buffers * k_chunk keys][D + k_pad dims] of K, then of V, then Q [k_rows][D + k_pad].
    extern __shared__ __align__(16) unsigned char smem[];
    using Row = T[D + k_pad];
#if ENCORE_ATTENTION_WGMMA
    // K [2][D / 64][k_chunk][64] and Q [D / 64][k_rows][64] swizzled, then V as for mma.sync.
    unsigned char* const k_sw =
        smem + (1024 - uint32_t(__cvta_generic_to_shared(smem)) % 1024) % 1024;
    constexpr int k_buf_bytes = k_chunk * D * int(sizeof(T));
    unsigned char* const q_sw = k_sw + 2 * k_buf_bytes;
#if ENCORE_ATTENTION_WGMMA_PV
    unsigned char* const v_sw = q_sw + k_rows * D * int(sizeof(T));  // [2][D / 64][k_chunk][64]
#else
    Row* v_s = reinterpret_cast<Row*>(q_sw + k_rows * D * int(sizeof(T)));
#endif
#else
    Row* k_s = reinterpret_cast<Row*>(smem);
    Row* v_s = k_s + 2 * k_chunk;
    Row* q_s = v_s + 2 * k_chunk;
#endif

    const AttentionTile tile = tiles[blockIdx.x / plan.head_chunks];
    const int head_chunk = int(blockIdx.x % plan.head_chunks);
    const int kvh = int(blockIdx.y);
    const int group = n_heads / kv.n_kv_heads;
    const int lane = int(threadIdx.x % 32), warp = int(threadIdx.x / 32);
    const int g = lane / 4, t4 = lane % 4;

    // Query rows r = token_in_tile * heads_per_block + head_in_block; this thread's rows are
    // warp * 16 + g and warp * 16 + g + 8. The row of q and out (token * n_heads + head) of
    // block row r, or -1 where r holds no query.
    auto query_row = [&](int r) -> int64_t {
        const int head_in_group = head_chunk * plan.heads_per_block + r % plan.heads_per_block;
        const bool valid = r / plan.heads_per_block < tile.n_tokens &&
                           r < plan.tile_tokens * plan.heads_per_block && head_in_group < group;
        const int64_t token = tile.first_token + r / plan.heads_per_block;
        return valid ? token * n_heads + kvh * group + head_in_group : -1;
    };
    int qpos[2];
    int64_t out_row[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const int r = warp * 16 + g + 8 * i;
        out_row[i] = query_row(r);
        qpos[i] = out_row[i] >= 0 ? batch.positions[out_row[i] / n_heads] : -1;
    }
    const bool warp_active = __any_sync(0xffffffffu, qpos[0] >= 0 || qpos[1] >= 0);

    // Q rounded to the pool's type into shared memory (zeros for rows without a query), read
    // back as A fragments by ldmatrix; 8 dims (two float4 loads) per copy, a row's D / 8 copies
    // contiguous.
    for (int idx = int(threadIdx.x); idx < k_rows * D / 8; idx += k_warps * 32) {
        const int r = idx / (D / 8), c = (idx % (D / 8)) * 8;
        const int64_t row = query_row(r);
        float4 x0 = make_float4(0, 0, 0, 0), x1 = x0;
        if (row >= 0) {
            x0 = *reinterpret_cast<const float4*>(q + row * D + c);
            x1 = *reinterpret_cast<const float4*>(q + row * D + c + 4);
        }
        const uint4 packed = make_uint4(Mma<T>::pack(x0.x, x0.y), Mma<T>::pack(x0.z, x0.w),
                                        Mma<T>::pack(x1.x, x1.y), Mma<T>::pack(x1.z, x1.w));
#if ENCORE_ATTENTION_WGMMA
        *reinterpret_cast<uint4*>(q_sw + swizzled_offset<k_rows>(r, c)) = packed;
#else
        *reinterpret_cast<uint4*>(&q_s[r][c]) = packed;
#endif
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
    for (int i = 0; i < 2; ++i)
        if (qpos[i] >= 0) warp_min_pos = min(warp_min_pos, qpos[i]);
#pragma unroll
    for (int o = 16; o > 0; o >>= 1)
        warp_min_pos = min(warp_min_pos, __shfl_xor_sync(0xffffffffu, warp_min_pos, o));
    // Scores in base 2: p = 2^(s * scale * log2(e) - m), m in log2 units; a split's m is given
    // to the combination in natural units (m * ln 2), as attention.cu's kernel gives it.
    const float scale2 = scale * 1.4426950408889634f;

    // Fused: the combination of the splits so far, per row.
    CombineState<D / 8> combined[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) combined[i].reset();

    // The chunks of keys this block walks: every split of the tile (fused) or split blockIdx.z,
    // in order; splits are whole chunks (k_attention_split a multiple of k_chunk), all but the
    // tile's last one full. Chunk c + 1 is copied into the other buffer while c is multiplied.
    static_assert(k_attention_split % k_chunk == 0);
    const int first_split = Fused ? 0 : int(blockIdx.z);
    const int last_split = Fused ? tile.max_pos / k_attention_split : int(blockIdx.z);
    const int begin = first_split * k_attention_split;
    if (begin > tile.max_pos) return;
    const int end = min((last_split + 1) * k_attention_split, tile.max_pos + 1);
#if ENCORE_ATTENTION_WGMMA_PV
    // Every warpgroup multiplies, queries or not (rows without one are zeros): with P · V in
    // flight across the softmax, a branch around the MMAs makes ptxas serialize them.
    constexpr bool group_active = true;
#elif ENCORE_ATTENTION_WGMMA
    // A warpgroup multiplies S if any of its warps has a query (wgmma takes all four warps).
    __shared__ int warp_busy[k_warps];
    if (lane == 0) warp_busy[warp] = warp_active;
    __syncthreads();
    const int group_first = warp / 4 * 4;
    const bool group_active = warp_busy[group_first] || warp_busy[group_first + 1] ||
                              warp_busy[group_first + 2] || warp_busy[group_first + 3];
#endif
    // K and V rows of the chunk at c0 into buffer buf, 16 bytes (8 elements) per copy; keys past
    // the tile's last position are zeros (their weights are exact zeros). A thread copies the
    // same 16 bytes of rows threadIdx.x / (D / 8) + k * (256 / (D / 8)).
    constexpr int k_row_pieces = D / 8;
    constexpr int k_rows_per_pass = k_warps * 32 / k_row_pieces;
    const int piece_col = (int(threadIdx.x) % k_row_pieces) * 8;
    const int piece_row = int(threadIdx.x) / k_row_pieces;
    constexpr int k_passes = k_chunk / k_rows_per_pass;
    // The pool blocks of this thread's rows of the chunk at c0 (-1: past the tile's last
    // position), read from the block table ahead of the copies that use them.
    auto chunk_blocks = [&](int c0, int32_t(&blk)[k_passes]) {
#pragma unroll
        for (int pass = 0; pass < k_passes; ++pass) {
            const int p = c0 + piece_row + pass * k_rows_per_pass;
            blk[pass] = p <= tile.max_pos ? table[block_of(p)] : -1;
        }
    };
    auto load_chunk = [&](int buf, int vbuf, int c0, const int32_t(&blk)[k_passes]) {
#pragma unroll
        for (int pass = 0; pass < k_passes; ++pass) {
            const int j = piece_row + pass * k_rows_per_pass;
#if ENCORE_ATTENTION_WGMMA
            T* kd = reinterpret_cast<T*>(k_sw + buf * k_buf_bytes +
                                         swizzled_offset<k_chunk>(j, piece_col));
#else
            T* kd = &k_s[buf * k_chunk + j][piece_col];
#endif
#if ENCORE_ATTENTION_WGMMA_PV
            T* vd = reinterpret_cast<T*>(v_sw + vbuf * k_buf_bytes +
                                         swizzled_offset<k_chunk>(j, piece_col));
#else
            T* vd = &v_s[vbuf * k_chunk + j][piece_col];
#endif
            if (blk[pass] >= 0) {
                const int64_t at = int64_t(blk[pass]) * kv.block_stride + kv.instance_offset +
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
    int32_t next_blk[k_passes];
    chunk_blocks(begin, next_blk);
    load_chunk(0, 0, begin, next_blk);
    SplitState<D> st;
    int buf = 0;   // the chunk's K buffer, and its V buffer where V has two
    int vbuf = 0;  // the chunk's V buffer
#if ENCORE_ATTENTION_WGMMA_PV
    constexpr int k_v_buffers = k_v_buffers_wgmma;
#else
    constexpr int k_v_buffers = 2;
#endif
    // Rescales the outputs where a row's max moved (a multiplication by 1 changes nothing, so
    // skipping it when no row of the warp moved gives the same bits).
    auto rescale_outputs = [&](const float(&alpha)[2]) {
        if (__any_sync(0xffffffffu, alpha[0] != 1.0f || alpha[1] != 1.0f)) {
#pragma unroll
            for (int dt = 0; dt < D / 8; ++dt) {
                st.o[dt][0] = __fmul_rn(st.o[dt][0], alpha[0]);
                st.o[dt][1] = __fmul_rn(st.o[dt][1], alpha[0]);
                st.o[dt][2] = __fmul_rn(st.o[dt][2], alpha[1]);
                st.o[dt][3] = __fmul_rn(st.o[dt][3], alpha[1]);
            }
        }
    };
#if ENCORE_ATTENTION_WGMMA_PV
    // P · V of a chunk runs one step late, beside the next chunk's S = Q · Kᵀ, so that the tensor
    // cores multiply while the softmax of that S runs (FlashAttention-3's overlap within a
    // warpgroup). The outputs see the same operations in the same order: rescaled by the chunk's
    // alpha once the previous P · V is in, then the chunk's P · V added. p_late holds the late
    // chunk's P as A fragments, v_late its V buffer.
    uint32_t p_late[k_chunk / 16][4];
    int v_late = 0;
    // O += P · V of the late chunk by the warpgroup, 16 keys per step: P's C fragments are the A
    // fragments of this warp's rows (zeros in warps without a query), V the transposed operand
    // (keys by dims, dims contiguous), 2048 bytes (16 keys) per step. Issued, not waited for.
    auto issue_late_pv = [&] {
        const unsigned char* v_buf = v_sw + v_late * k_buf_bytes;
#pragma unroll
        for (int ks = 0; ks < k_chunk / 16; ++ks)
            wgmma_pv<T, D>(st.o, p_late[ks],
                           wgmma_descriptor_mn(v_buf + ks * 16 * 128, k_chunk * 128));
        wgmma_commit();
    };
#endif
    // One chunk of keys at c0 (late: the previous chunk's P · V is still to be issued, beside
    // this chunk's S).
    auto chunk_step = [&](int c0, auto late_tag) {
        [[maybe_unused]] constexpr bool late = decltype(late_tag)::value;
        // One barrier per chunk: after it this chunk is in shared memory for every warp, and
        // every warp is done with the buffers the next chunk goes to (K read in the previous
        // step; V two steps back where P · V runs late, else in the previous step), which are
        // then refilled while this one is multiplied. The next chunk's block table entries
        // are read before the wait.
        const bool more = c0 + k_chunk < end;
        if (more) chunk_blocks(c0 + k_chunk, next_blk);
        cp_async_wait<0>();
#if ENCORE_ATTENTION_WGMMA
        fence_shared_for_wgmma();  // this thread's copies and Q, for the tensor cores' reads
#endif
        __syncthreads();
        if (more) load_chunk(buf ^ 1, (vbuf + 1) % k_v_buffers, c0 + k_chunk, next_blk);
        // S = Q · Kᵀ: s[nt] holds keys nt * 8 + 2 * t4 + {0, 1} of rows g (0, 1) and
        // g + 8 (2, 3) of this warp.
        float s[k_chunk / 8][4];
#pragma unroll
        for (int nt = 0; nt < k_chunk / 8; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) s[nt][e] = 0.0f;
#if ENCORE_ATTENTION_WGMMA
        if (group_active) {
            // D / 16 k-steps in order: Q rows of this warpgroup and the chunk's keys, 16 dims
            // (32 bytes) further into their 128-byte rows per step.
            const unsigned char* k_buf = k_sw + buf * k_buf_bytes;
            const unsigned char* q_rows = q_sw + (warp / 4) * 64 * 128;
            wgmma_fence();
#pragma unroll
            for (int kk = 0; kk < D / 16; ++kk) {
                const int half = kk * 16 / 64, at = (kk * 16 % 64) * int(sizeof(T));
                wgmma_m64n64k16<T>(s, wgmma_descriptor(q_rows + half * k_rows * 128 + at),
                                   wgmma_descriptor(k_buf + half * k_chunk * 128 + at));
            }
            wgmma_commit();
#if ENCORE_ATTENTION_WGMMA_PV
            if constexpr (late) {  // the previous chunk's P · V, then wait for S only
                issue_late_pv();
                wgmma_wait<1>();
            } else {
                wgmma_wait<0>();
            }
#else
            wgmma_wait<0>();
#endif
            fence_accumulator(s);
        }
#endif
        float alpha[2] = {1.0f, 1.0f};
        if (warp_active) {
#if !ENCORE_ATTENTION_WGMMA
            // mma.sync: A fragments of Q (rows warp * 16 + lane % 16, dims kk * 16 + 8 *
            // (lane / 16)) two k-steps at a time; B fragments of K: matrices (keys nt * 8..,
            // dims kk * 16 + 8 * m) for m = 0..3 give b0, b1 of k-steps kk and kk + 1. Each
            // s[nt] sums its k-steps in order.
#pragma unroll
            for (int kk = 0; kk < D / 16; kk += 2) {
                uint32_t qa[4], qb[4];
                ldmatrix_x4(qa, &q_s[warp * 16 + lane % 16][kk * 16 + (lane / 16) * 8]);
                ldmatrix_x4(qb, &q_s[warp * 16 + lane % 16][(kk + 1) * 16 + (lane / 16) * 8]);
#pragma unroll
                for (int nt = 0; nt < k_chunk / 8; ++nt) {
                    uint32_t b[4];
                    ldmatrix_x4(b,
                                &k_s[buf * k_chunk + nt * 8 + lane % 8][kk * 16 + (lane / 8) * 8]);
                    Mma<T>::run(s[nt], qa, b[0], b[1]);
                    Mma<T>::run(s[nt], qb, b[2], b[3]);
                }
            }

#endif

            // Online softmax (the four threads of a quad share a row): the row's max of the raw
            // scores it sees, then weights 2^(s * scale2 - m). Keys past a row's position are
            // masked only in chunks that reach past the warp's lowest position.
            const bool masked = c0 + k_chunk - 1 > warp_min_pos;
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                float cmax = -INFINITY;
                if (masked) {
#pragma unroll
                    for (int nt = 0; nt < k_chunk / 8; ++nt)
#pragma unroll
                        for (int e = 0; e < 2; ++e) {
                            float& v = s[nt][2 * i + e];
                            v = c0 + nt * 8 + 2 * t4 + e <= qpos[i] ? v : -INFINITY;
                            cmax = fmaxf(cmax, v);
                        }
                } else {
#pragma unroll
                    for (int nt = 0; nt < k_chunk / 8; ++nt)
                        cmax = fmaxf(cmax, fmaxf(s[nt][2 * i], s[nt][2 * i + 1]));
                }
                cmax = fmaxf(cmax, __shfl_xor_sync(0xffffffffu, cmax, 1));
                cmax = fmaxf(cmax, __shfl_xor_sync(0xffffffffu, cmax, 2));
                const float m_new = fmaxf(st.m[i], __fmul_rn(cmax, scale2));
                // Nothing visible yet (masked chunks only): the row stays as it is (alpha 1,
                // weights 0); otherwise masked keys (-inf) get 2^-inf = 0.
                const bool none = m_new == -INFINITY;
                const float neg_m = none ? 0.0f : -m_new;
                float psum = 0.0f;
#pragma unroll
                for (int nt = 0; nt < k_chunk / 8; ++nt)
#pragma unroll
                    for (int e = 0; e < 2; ++e) {
                        float& v = s[nt][2 * i + e];
                        v = fast_exp2(__fmaf_rn(v, scale2, neg_m));
                        psum = __fadd_rn(psum, v);
                    }
                psum = __fadd_rn(psum, __shfl_xor_sync(0xffffffffu, psum, 1));
                psum = __fadd_rn(psum, __shfl_xor_sync(0xffffffffu, psum, 2));
                alpha[i] = none ? 1.0f : fast_exp2(__fsub_rn(st.m[i], m_new));  // m = -inf: 0
                st.l[i] = __fadd_rn(__fmul_rn(st.l[i], alpha[i]), psum);
                st.m[i] = m_new;
            }

#if !ENCORE_ATTENTION_WGMMA_PV
            rescale_outputs(alpha);
            // O += P · V, 16 keys per step; P's C fragments are A fragments as they stand.
#pragma unroll
            for (int ks = 0; ks < k_chunk / 16; ++ks) {
                uint32_t a[4];
                p_fragment<T>(s, ks, a);
                // Transposed matrices (keys ks * 16 + 8 * (m % 2).., dims dt * 8 + 8 * (m / 2))
                // give b0, b1 of column groups dt and dt + 1.
#pragma unroll
                for (int dt = 0; dt < D / 8; dt += 2) {
                    uint32_t b[4];
                    ldmatrix_x4_trans(b, &v_s[vbuf * k_chunk + ks * 16 + (lane / 8 % 2) * 8 +
                                              lane % 8][dt * 8 + (lane / 16) * 8]);
                    Mma<T>::run(st.o[dt], a, b[0], b[1]);
                    Mma<T>::run(st.o[dt + 1], a, b[2], b[3]);
                }
            }
#endif
        }
#if ENCORE_ATTENTION_WGMMA_PV
        if (group_active) {
            if constexpr (late) {  // the previous chunk's P · V is in: rescale, then this one's
                wgmma_wait<0>();
                fence_accumulator(st.o);
            }
            if (warp_active) rescale_outputs(alpha);
#pragma unroll
            for (int ks = 0; ks < k_chunk / 16; ++ks) p_fragment<T>(s, ks, p_late[ks]);
            v_late = vbuf;
        }
#endif
        buf ^= 1;
        vbuf = (vbuf + 1) % k_v_buffers;
    };
    // Splits in order, each from a fresh row state; chunks of a split in order.
    for (int split = first_split; split <= last_split; ++split) {
        const int split_end = min((split + 1) * k_attention_split, tile.max_pos + 1);
#pragma unroll
        for (int i = 0; i < 2; ++i) st.m[i] = -INFINITY, st.l[i] = 0.0f;
#pragma unroll
        for (int dt = 0; dt < D / 8; ++dt)
#pragma unroll
            for (int e = 0; e < 4; ++e) st.o[dt][e] = 0.0f;
        const int split_begin = split * k_attention_split;
        // The split's first chunk, then the others beside the P · V of the chunk before.
        chunk_step(split_begin, std::false_type{});
        for (int c0 = split_begin + k_chunk; c0 < split_end; c0 += k_chunk)
            chunk_step(c0, std::bool_constant<bool(ENCORE_ATTENTION_WGMMA_PV)>{});
#if ENCORE_ATTENTION_WGMMA_PV
        // The split's last P · V (its V is in since that chunk's barrier).
        wgmma_fence();
        issue_late_pv();
        wgmma_wait<0>();
        fence_accumulator(st.o);
#endif
        if (warp_active) {  // the split ends
            if constexpr (Fused) {
#pragma unroll
                for (int i = 0; i < 2; ++i) combined[i].add(natural(st.m[i]), st.l[i], st.o, i);
            } else {
#pragma unroll
                for (int i = 0; i < 2; ++i) {
                    if (qpos[i] < 0) continue;
                    const int64_t slot = out_row[i] * max_splits + split;
                    if (t4 == 0) {
                        ml[slot * 2] = natural(st.m[i]);
                        ml[slot * 2 + 1] = st.l[i];
                    }
#pragma unroll
                    for (int dt = 0; dt < D / 8; ++dt)
                        *reinterpret_cast<float2*>(part + slot * D + dt * 8 + 2 * t4) =
                            float2{st.o[dt][2 * i], st.o[dt][2 * i + 1]};
                }
            }
        }
    }  // splits
    if constexpr (Fused) {
#pragma unroll
        for (int i = 0; i < 2; ++i) {
            if (qpos[i] < 0) continue;
#pragma unroll
            for (int dt = 0; dt < D / 8; ++dt) {
                store_attention_out2(out, out_row[i] * D + dt * 8 + 2 * t4,
                                     combined[i].result(dt, 0), combined[i].result(dt, 1));
            }
        }
    }
}

// The fused variant of head_dim 128 needs more registers than Ampere's compiler keeps it in (it
// spills there): it is built for Hopper only, and attention_fused() says no on older GPUs.
template <typename T, int D, bool Fused>
__global__ void __launch_bounds__(k_warps * 32, 1)
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
    constexpr int smem = smem_bytes<T, D>();  // over the 48 KiB a launch gets without asking
    // The opt-in is a per-device attribute of the kernels: asked once on each device.
    static std::atomic<uint64_t> opted_in{0};
    int device = 0;
    cudaGetDevice(&device);
    const uint64_t bit = uint64_t(1) << (device % 64);
    if (!(opted_in.load() & bit)) {
        cudaFuncSetAttribute(attention_mma_kernel<T, D, true>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
        cudaFuncSetAttribute(attention_mma_kernel<T, D, false>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
        opted_in.fetch_or(bit);
    }
    if (fused) {
        const dim3 grid(unsigned(n_tiles * plan.head_chunks), unsigned(kv.n_kv_heads), 1);
        launch(attention_mma_kernel<T, D, true>, grid, k_warps * 32, smem, stream, q, n_heads, kv,
               batch, tiles, plan, max_splits, scale, ml, part, out);
    } else {
        const dim3 grid(unsigned(n_tiles * plan.head_chunks), unsigned(kv.n_kv_heads),
                        unsigned(max_splits));
        launch(attention_mma_kernel<T, D, false>, grid, k_warps * 32, smem, stream, q, n_heads, kv,
               batch, tiles, plan, max_splits, scale, ml, part, out);
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
