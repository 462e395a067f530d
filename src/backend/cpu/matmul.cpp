// The matmul driver (see matmul.h): converts the bias, packs x into the layout the weight dtype's
// kernel reads (zero-padded to whole steps), and hands chunks of output columns to the threads of
// the pool through a shared counter. A chunk is a panel of W rows small enough to stay in L2 while
// every row tile of x passes over it, so each weight is read from memory once per call.
#include "backend/cpu/matmul.h"

#include <algorithm>
#include <atomic>
#include <numeric>

#include "backend/cpu/matmul_tile.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "hwy/aligned_allocator.h"

namespace encore::cpu {

int64_t matmul_k_step() {
    return k_step;
}

PackLayout matmul_layout(DType dtype) {
    return dtype == DType::bf16 ? PackLayout::even_odd : PackLayout::plain;
}

namespace {

MatmulChunkFn chunk_fn(DType dtype) {
    switch (dtype) {
        case DType::f32:
            return matmul_chunk_f32;
        case DType::f16:
            return matmul_chunk_f16;
        case DType::bf16:
            return matmul_chunk_bf16;
        case DType::q8_0:
            return matmul_chunk_q8_0;
        case DType::q4_0:
            return matmul_chunk_q4_0;
        default:
            break;
    }
    fail(ErrorKind::unsupported, "matmul does not support {} weights", dtype_name(dtype));
}

// Packs the row tiles [t0, t1) of x [n, k] into xp (see PackLayout). Whole steps move as two
// vectors (even_odd: split into even and odd elements by two lane permutes); a last partial step
// is zero-padded element by element.
void pack_tiles(PackLayout layout, const float* x, int64_t n, int64_t k, int64_t ldx, int64_t t0,
                int64_t t1, float* xp) {
    const DF df;
    const int64_t half = k_step / 2, n_steps = ldx / k_step, n_full = k / k_step;
    for (int64_t t = t0; t < t1; ++t) {
        const int64_t i0 = t * k_mr, rows = std::min<int64_t>(k_mr, n - i0);
        float* tile = xp + i0 * ldx;
        for (int64_t r = 0; r < rows; ++r) {
            const float* xr = x + (i0 + r) * k;
            for (int64_t s = 0; s < n_full; ++s) {  // whole steps
                const VF lo = hn::LoadU(df, xr + s * k_step);
                const VF hi = hn::LoadU(df, xr + s * k_step + half);
                float* dst = tile + (s * rows + r) * k_step;
                if (layout == PackLayout::plain) {
                    hn::Store(lo, df, dst);
                    hn::Store(hi, df, dst + half);
                } else {  // even elements first, then odd ones
                    hn::Store(hn::ConcatEven(df, hi, lo), df, dst);
                    hn::Store(hn::ConcatOdd(df, hi, lo), df, dst + half);
                }
            }
            for (int64_t s = n_full; s < n_steps; ++s) {  // the zero-padded last step
                const float* xi = xr + s * k_step;
                const int64_t valid = k - s * k_step;
                float* dst = tile + (s * rows + r) * k_step;
                for (int64_t e = 0; e < half; ++e) {
                    if (layout == PackLayout::plain) {
                        dst[e] = e < valid ? xi[e] : 0.0f;
                        dst[half + e] = half + e < valid ? xi[half + e] : 0.0f;
                    } else {
                        dst[e] = 2 * e < valid ? xi[2 * e] : 0.0f;
                        dst[half + e] = 2 * e + 1 < valid ? xi[2 * e + 1] : 0.0f;
                    }
                }
            }
        }
    }
}

// Output columns per chunk: a W panel of about this many bytes stays in L2 next to the x tiles.
constexpr int64_t k_panel_bytes = 512 << 10;

}  // namespace

MatmulScratch::~MatmulScratch() {
    for (float* p : packed_x) hwy::FreeAlignedBytes(p, nullptr, nullptr);
}

namespace {

// x packed for `layout` into the scratch buffer of that layout.
const float* pack_x(ThreadPool& pool, MatmulScratch& scratch, PackLayout layout, const float* x,
                    int64_t n, int64_t k, int64_t ldx) {
    const int l = int(layout);
    if (scratch.packed_capacity[l] < size_t(n * ldx)) {
        hwy::FreeAlignedBytes(scratch.packed_x[l], nullptr, nullptr);
        scratch.packed_x[l] = static_cast<float*>(
            hwy::AllocateAlignedBytes(size_t(n * ldx) * sizeof(float), nullptr, nullptr));
        if (!scratch.packed_x[l]) {
            scratch.packed_capacity[l] = 0;
            fail(ErrorKind::out_of_memory, "cannot allocate {} floats for matmul input", n * ldx);
        }
        scratch.packed_capacity[l] = size_t(n * ldx);
    }
    float* xp = scratch.packed_x[l];
    const int64_t n_tiles = (n + k_mr - 1) / k_mr;
    if (n_tiles > 1 && n * ldx >= (int64_t(1) << 16)) {
        pool.parallel_for(n_tiles, [&](int64_t t0, int64_t t1, int) {
            pack_tiles(layout, x, n, k, ldx, t0, t1, xp);
        });
    } else {
        pack_tiles(layout, x, n, k, ldx, 0, n_tiles, xp);
    }
    return xp;
}

}  // namespace

void matmul(ThreadPool& pool, MatmulScratch& scratch, const float* x /*[n, k]*/, int64_t n,
            const TensorView& w /*[m, k]*/, const TensorView* bias /*[m] or null*/,
            float* y /*[n, m]*/) {
    const Backend::MatmulOut out{&w, bias, y};
    matmuls(pool, scratch, x, n, std::span(&out, 1));
}

void matmuls(ThreadPool& pool, MatmulScratch& scratch, const float* x /*[n, k]*/, int64_t n,
             std::span<const Backend::MatmulOut> outs) {
    if (n <= 0 || outs.empty()) return;
    const int64_t k = outs[0].w->row_elems();  // k > 0: a TensorView has no empty rows
    const int64_t ldx = (k + k_step - 1) / k_step * k_step;
    if (scratch.biases.size() < outs.size()) scratch.biases.resize(outs.size());

    std::vector<MatmulJob>& jobs = scratch.jobs;
    std::vector<MatmulChunkFn>& fns = scratch.fns;
    jobs.assign(outs.size(), MatmulJob{});
    fns.assign(outs.size(), nullptr);
    const float* packed[2] = {};
    int64_t total_rows = 0;
    for (size_t o = 0; o < outs.size(); ++o) {
        const TensorView& w = *outs[o].w;
        if (w.row_elems() != k)
            fail(ErrorKind::invalid_argument,
                 "matmuls: weight {} has rows of {} elements, expected {}", o, w.row_elems(), k);
        MatmulJob& job = jobs[o];
        fns[o] = chunk_fn(w.dtype);
        job.n = n, job.k = k, job.m = w.n_rows(), job.y = outs[o].y;
        job.w = static_cast<const uint8_t*>(w.data);
        job.w_row_bytes = w.row_bytes();
        if (const TensorView* bias = outs[o].bias) {
            if (bias->n_elements() != job.m)
                fail(ErrorKind::invalid_argument, "matmul bias has {} elements, expected {}",
                     bias->n_elements(), job.m);
            scratch.biases[o].resize(size_t(job.m));
            dequantize_row(bias->dtype, bias->data, scratch.biases[o].data(), job.m);
            job.bias = scratch.biases[o].data();
        }
        const PackLayout layout = matmul_layout(w.dtype);
        const float*& xp = packed[int(layout)];
        if (!xp) xp = pack_x(pool, scratch, layout, x, n, k, ldx);
        job.xp = xp, job.ldx = ldx;
        total_rows += job.m;
    }

    // Chunks of whole tiles, small enough for L2 and for several chunks per thread (balance under
    // uneven load); with several x rows every chunk re-reads all of x, so fewer, larger ones.
    // The chunks of all outputs form one list, taken in order through a shared counter.
    const int64_t per_thread_chunks = n >= k_mr ? 2 : 4;
    const int64_t per_thread = (total_rows + per_thread_chunks * pool.n_threads() - 1) /
                               (per_thread_chunks * pool.n_threads());
    constexpr int64_t align =
        std::lcm(std::lcm(k_nr, k_nr1), k_nr_full);  // whole tiles for decode and prefill
    std::vector<MatmulScratch::Chunk>& chunks = scratch.chunks;
    chunks.clear();
    for (size_t o = 0; o < jobs.size(); ++o) {
        const int64_t m = jobs[o].m;
        const int64_t chunk = std::max<int64_t>(
            align, std::min({k_panel_bytes / jobs[o].w_row_bytes, per_thread, k_max_chunk}) /
                       align * align);
        for (int64_t j0 = 0; j0 < m; j0 += chunk)
            chunks.push_back(MatmulScratch::Chunk{int(o), j0, std::min(m, j0 + chunk)});
    }
    const int64_t n_chunks = int64_t(chunks.size());
    const int64_t ahead = pool.n_threads();  // the chunk a thread most likely takes next
    auto run_chunk = [&](int64_t c) {
        const MatmulScratch::Chunk& ch = chunks[size_t(c)];
        const uint8_t* prefetch = nullptr;
        int64_t prefetch_bytes = 0;
        if (c + ahead < n_chunks) {
            const MatmulScratch::Chunk& next = chunks[size_t(c + ahead)];
            const MatmulJob& nj = jobs[size_t(next.job)];
            prefetch = nj.w + next.j0 * nj.w_row_bytes;
            prefetch_bytes = (next.j1 - next.j0) * nj.w_row_bytes;
        }
        fns[size_t(ch.job)](jobs[size_t(ch.job)], ch.j0, ch.j1, prefetch, prefetch_bytes);
    };
    if (n_chunks == 1 || pool.n_threads() == 1) {
        for (int64_t c = 0; c < n_chunks; ++c) run_chunk(c);
        return;
    }
    std::atomic<int64_t> next{0};
    pool.run_on_all([&](int, int) {
        for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < n_chunks;)
            run_chunk(c);
    });
}

}  // namespace encore::cpu
