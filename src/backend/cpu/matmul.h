// The optimized matmul y[n, m] = x[n, k] · W[m, k]ᵀ (+ bias) of the CPU backend: the driver that
// packs x, splits the output columns (rows of W) into chunks handed to threads, and the
// per-weight-dtype chunk kernels it calls (matmul_<dtype>.cpp, all built from matmul_tile.h).
//
// Numerics: every y[i, j] is computed by one thread as one vector accumulator per (i, j) over k in
// steps of k_step elements (two multiply-adds per step, "a" then "b"), zero-padded at the end of
// k, then reduced across lanes with one fixed tree, then the bias is added. That order depends
// only on k, never on n, on the tiling, on the chunking or on the thread count, so any split of
// the rows of x into calls gives bitwise identical results. For f32, f16 and quantized weights a
// step is two f32 FMAs (W converted in registers). For bf16 weights, x is split into two bf16
// parts, hi + lo (16 significant bits, see split_bf16), and a step is two bf16-pair dot products
// of the W step, with hi then with lo: the products are exact and accumulate in f32, and a
// decode step is 2 instructions per 64 bytes of W instead of 4, which lets more of W be in flight
// from memory (bench/KERNELS.md). With Precision::fast, bf16 weights take x rounded to one bf16
// (PackLayout::bf16_single) and a step is one bf16-pair dot product: the same fixed order, half
// the work, as llama.cpp computes.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/work_segments.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace encore {
class ThreadPool;
}

namespace encore::cpu {

// Packed x is stored by row tiles (k_mr rows, the last tile holding the n % k_mr rest): a tile is
// [steps][rows of the tile][k_step], so a kernel streams one contiguous block per tile; rows are
// zero-padded to whole steps. Within a step, `plain` keeps the k_step f32 elements in order (two
// halves); `bf16_split` holds the same room as x's hi part then its lo part, k_step bf16 values
// each, in order (see split_bf16); `bf16_single` holds only the hi part (half the room).
enum class PackLayout { plain, bf16_split, bf16_single };
constexpr int k_n_pack_layouts = 3;

// One matmul as seen by a chunk kernel.
struct MatmulJob {
    const float* xp = nullptr;   // [n * ldx] packed x by row tiles (see PackLayout)
    int64_t ldx = 0;             // floats per row of x once packed: n_steps * k_step
    int64_t n = 0;               // rows of x
    int64_t k = 0;               // elements per row of W (unpadded)
    const uint8_t* w = nullptr;  // [m, k] weights in their stored dtype
    int64_t w_row_bytes = 0;
    const float* bias = nullptr;  // [m] or null
    float* y = nullptr;           // [n, m]
    int64_t m = 0;
};

// Elements of k consumed per accumulator step (two f32 vectors of the static target).
int64_t matmul_k_step();
PackLayout matmul_layout(DType dtype, Precision precision);
// Floats per row of x packed in `layout` for rows of k elements: whole steps.
int64_t packed_row_floats(PackLayout layout, int64_t k);

// Most output columns one chunk kernel call may cover.
constexpr int64_t k_max_chunk = 256;

// Computes y[:, j0:j1] for all n rows (one thread), j1 - j0 <= k_max_chunk. One per weight dtype.
// With several rows, the `prefetch_bytes` from `prefetch` (the W panel this thread will likely
// take next) are pulled into cache along the way, so the next panel's first pass does not wait on
// memory.
using MatmulChunkFn = void (*)(const MatmulJob& job, int64_t j0, int64_t j1,
                               const uint8_t* prefetch, int64_t prefetch_bytes);
void matmul_chunk_f32(const MatmulJob&, int64_t, int64_t, const uint8_t*, int64_t);
void matmul_chunk_f16(const MatmulJob&, int64_t, int64_t, const uint8_t*, int64_t);
void matmul_chunk_bf16(const MatmulJob&, int64_t, int64_t, const uint8_t*, int64_t);
void matmul_chunk_bf16_fast(const MatmulJob&, int64_t, int64_t, const uint8_t*, int64_t);
void matmul_chunk_q8_0(const MatmulJob&, int64_t, int64_t, const uint8_t*, int64_t);
void matmul_chunk_q4_0(const MatmulJob&, int64_t, int64_t, const uint8_t*, int64_t);

// Scratch kept between calls so steady-state matmuls do not allocate.
struct MatmulScratch {
    float* packed_x[k_n_pack_layouts] = {};         // per PackLayout: [n * ldx], 64-byte aligned
    size_t packed_capacity[k_n_pack_layouts] = {};  // floats
    MatmulScratch() = default;
    MatmulScratch(const MatmulScratch&) = delete;
    MatmulScratch& operator=(const MatmulScratch&) = delete;
    ~MatmulScratch();
    std::vector<std::vector<float>> biases;  // per output: [m_i] as f32
    // The last call's work list, kept so that a call does not allocate.
    struct Chunk {
        int job;         // index into jobs
        int64_t j0, j1;  // output columns
    };
    std::vector<MatmulJob> jobs;  // per output
    std::vector<MatmulChunkFn> fns;
    std::vector<Chunk> chunks;
    std::vector<int> layouts;  // per output: its PackLayout
    // The row groups (calls that share out rows) or decode units of the last call, by thread.
    WorkSegments segments;
};

// The whole matmul on `pool`. `bias` may be null. `precision` matters for bf16 weights only.
void matmul(ThreadPool& pool, MatmulScratch& scratch, Precision precision,
            const float* x /*[n, k]*/, int64_t n, const TensorView& w /*[m, k]*/,
            const TensorView* bias /*[m] or null*/, float* y /*[n, m]*/);

// Several matmuls of one x (Backend::matmuls): x is packed once per layout and the chunks of all
// outputs are shared out among the threads as one list.
void matmuls(ThreadPool& pool, MatmulScratch& scratch, Precision precision,
             const float* x /*[n, k]*/, int64_t n, std::span<const Backend::MatmulOut> outs);

}  // namespace encore::cpu
