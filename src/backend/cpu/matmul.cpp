// The matmul driver (see matmul.h): converts the bias, packs x into the layout the weight dtype's
// kernel reads (zero-padded to whole steps), and hands work to the threads of the pool. Large
// weights: chunks of output columns through a shared counter; a chunk is a panel of W rows small
// enough to stay in L2 while every row tile of x passes over it, so each weight is read from
// memory once per call. Decode (one x row): units of W rows in contiguous per-thread segments
// (WorkSegments), so each thread streams one run of the weights. Small weights: groups of x rows,
// each over all columns, so a thread reads only the x rows it packed itself. Every output element
// is computed in the same order in every case.
#include "backend/cpu/matmul.h"

#include <algorithm>
#include <atomic>
#include <numeric>

#include "backend/cpu/matmul_tile.h"
#include "backend/cpu/work_segments.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "hwy/aligned_allocator.h"

namespace encore::cpu {

int64_t matmul_k_step() {
    return k_step;
}

PackLayout matmul_layout(DType dtype, Precision precision) {
    if (dtype != DType::bf16) return PackLayout::plain;
    return precision == Precision::fast ? PackLayout::bf16_single : PackLayout::bf16_split;
}

int64_t packed_row_floats(PackLayout layout, int64_t k) {
    const int64_t n_steps = (k + k_step - 1) / k_step;
    return layout == PackLayout::bf16_single ? n_steps * k_step / 2 : n_steps * k_step;
}

namespace {

MatmulChunkFn chunk_fn(DType dtype, Precision precision) {
    switch (dtype) {
        case DType::f32:
            return matmul_chunk_f32;
        case DType::f16:
            return matmul_chunk_f16;
        case DType::bf16:
            return precision == Precision::fast ? matmul_chunk_bf16_fast : matmul_chunk_bf16;
        case DType::q8_0:
            return matmul_chunk_q8_0;
        case DType::q4_0:
            return matmul_chunk_q4_0;
        default:
            break;
    }
    fail(ErrorKind::unsupported, "matmul does not support {} weights", dtype_name(dtype));
}

// One step of x (k_step values from `xs`) into `dst` in `layout`.
HWY_INLINE void pack_step(PackLayout layout, const float* xs, float* dst) {
    const DF df;
    const int64_t half = k_step / 2;
    const VF lo = hn::LoadU(df, xs), hi = hn::LoadU(df, xs + half);
    if (layout == PackLayout::plain) {
        hn::Store(lo, df, dst);
        hn::Store(hi, df, dst + half);
    } else if (layout == PackLayout::bf16_single) {
        hn::Store(round_bf16_pairs(lo, hi), df, dst);
    } else {
        VF x_hi, x_lo;
        split_bf16(lo, hi, x_hi, x_lo);
        hn::Store(x_hi, df, dst);
        hn::Store(x_lo, df, dst + half);
    }
}

// Packs the row tiles [t0, t1) of x [n, k] into xp (see PackLayout), step by step; a last partial
// step goes through a zero-padded copy.
void pack_tiles(PackLayout layout, const float* x, int64_t n, int64_t k, int64_t ldx, int64_t t0,
                int64_t t1, float* xp) {
    const int64_t x_step = layout == PackLayout::bf16_single ? k_step / 2 : k_step;
    const int64_t n_steps = ldx / x_step, n_full = k / k_step;
    for (int64_t t = t0; t < t1; ++t) {
        const int64_t i0 = t * k_mr, rows = std::min<int64_t>(k_mr, n - i0);
        float* tile = xp + i0 * ldx;
        for (int64_t r = 0; r < rows; ++r) {
            const float* xr = x + (i0 + r) * k;
            for (int64_t s = 0; s < n_full; ++s)
                pack_step(layout, xr + s * k_step, tile + (s * rows + r) * x_step);
            if (n_full < n_steps) {
                alignas(64) float padded[k_step] = {};
                std::copy(xr + n_full * k_step, xr + k, padded);
                pack_step(layout, padded, tile + (n_full * rows + r) * x_step);
            }
        }
    }
}

// Output columns per chunk: a W panel of about this many bytes stays in L2 next to the x tiles.
constexpr int64_t k_panel_bytes = 512 << 10;
// W bytes per decode work unit: small enough that threads finish a call together, large enough
// that taking one is cheap next to streaming it.
constexpr int64_t k_decode_unit_bytes = 256 << 10;
// Chunk widths are multiples of this: whole tiles for decode and prefill alike.
constexpr int64_t k_chunk_align = std::lcm(std::lcm(k_nr, k_nr1), k_nr_full);

}  // namespace

MatmulScratch::~MatmulScratch() {
    for (float* p : packed_x) hwy::FreeAlignedBytes(p, nullptr, nullptr);
}

namespace {

// The scratch buffer of `layout`, grown to hold n * ldx floats.
float* packed_buffer(MatmulScratch& scratch, PackLayout layout, int64_t n, int64_t ldx) {
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
    return scratch.packed_x[l];
}

// x packed for `layout` into the scratch buffer of that layout.
const float* pack_x(ThreadPool& pool, MatmulScratch& scratch, PackLayout layout, const float* x,
                    int64_t n, int64_t k, int64_t ldx) {
    float* xp = packed_buffer(scratch, layout, n, ldx);
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

// When each thread takes its own rows of x (all output columns) instead of a share of the
// column chunks: with at least this many row tiles per thread, and weights of at most this many
// bytes in the call. Then every thread reads only the x rows it packed itself (in a forward
// pass, rows it also produced), at the price of every thread reading all of W. On the 2-core
// EPYC VM of bench/KERNELS.md a cache line takes ~240 ns from one core to the other, and small
// matmuls ran 1.5-1.65x faster this way (256 x 256 bf16, n = 32 and 512); with the 1B shape's
// 2-64 MiB matrices, streaming W once per call matters more (prefill 63% vs 64.5% of peak).
constexpr int64_t k_row_split_min_tiles = 2;
constexpr int64_t k_row_split_max_weight_bytes = int64_t(4) << 20;
// Row groups per thread in such calls: a few, so that a thread slowed by the host can be
// relieved, while each group still reuses every W panel over several row tiles.
constexpr int64_t k_row_groups_per_thread = 4;

// Output columns per chunk when a thread covers all columns of its rows: one L2-sized panel.
int64_t own_rows_chunk(const MatmulJob& job) {
    return std::max<int64_t>(k_chunk_align, std::min(k_panel_bytes / job.w_row_bytes, k_max_chunk) /
                                                k_chunk_align * k_chunk_align);
}

// Rows [r0, r1) of x (r0 a whole number of row tiles) through every output, on this thread:
// x's tiles packed here, then each output's column panels in order, the next panel prefetched.
void run_own_rows(std::span<const MatmulJob> jobs, std::span<const MatmulChunkFn> fns,
                  std::span<float* const> packed, std::span<const int> layout_of, const float* x,
                  int64_t n, int64_t r0, int64_t r1) {
    const int64_t k = jobs[0].k;
    const int64_t t0 = r0 / k_mr, t1 = (r1 + k_mr - 1) / k_mr;
    for (int l = 0; l < k_n_pack_layouts; ++l)
        if (packed[size_t(l)])
            pack_tiles(PackLayout(l), x, n, k, packed_row_floats(PackLayout(l), k), t0, t1,
                       packed[size_t(l)]);
    for (size_t o = 0; o < jobs.size(); ++o) {
        MatmulJob job = jobs[o];
        job.xp = packed[size_t(layout_of[o])] + r0 * job.ldx;
        job.y = job.y + r0 * job.m;
        job.n = r1 - r0;
        const int64_t chunk = own_rows_chunk(job);
        for (int64_t j0 = 0; j0 < job.m; j0 += chunk) {
            const int64_t j1 = std::min(job.m, j0 + chunk);
            const int64_t next1 = std::min(job.m, j1 + chunk);
            fns[o](job, j0, j1, j1 < job.m ? job.w + j1 * job.w_row_bytes : nullptr,
                   (next1 - j1) * job.w_row_bytes);
        }
    }
}

// Each thread computes whole rows of x through every output (see k_row_split_max_weight_bytes).
// Rows go in groups of whole tiles, shared out by WorkSegments, so a thread slowed by the host
// does not hold the call up and rows mostly stay with their segment's thread.
void share_rows(ThreadPool& pool, MatmulScratch& scratch, Precision precision, const float* x,
                int64_t n, std::span<const Backend::MatmulOut> outs) {
    const std::vector<MatmulJob>& jobs = scratch.jobs;
    const std::vector<MatmulChunkFn>& fns = scratch.fns;
    const int n_threads = pool.n_threads();
    const int64_t n_tiles = (n + k_mr - 1) / k_mr;
    float* own_packed[k_n_pack_layouts] = {};
    scratch.layouts.resize(outs.size());
    for (size_t o = 0; o < outs.size(); ++o) {
        const int l = int(matmul_layout(outs[o].w->dtype, precision));
        scratch.layouts[o] = l;
        if (!own_packed[l]) own_packed[l] = packed_buffer(scratch, PackLayout(l), n, jobs[o].ldx);
    }
    const int64_t group_tiles =
        std::max<int64_t>(1, n_tiles / (k_row_groups_per_thread * n_threads));
    const int64_t n_groups = (n_tiles + group_tiles - 1) / group_tiles;
    WorkSegments& segments = scratch.segments;
    segments.reset(n_groups, n_threads);
    const std::span<const int> layouts(scratch.layouts);
    auto run_group = [&](int64_t g) {
        const int64_t r0 = g * group_tiles * k_mr;
        const int64_t r1 = std::min(n, (g + 1) * group_tiles * k_mr);
        run_own_rows(jobs, fns, own_packed, layouts, x, n, r0, r1);
    };
    pool.run_on_all([&](int t, int) {
        for (int64_t g; (g = segments.take(t)) >= 0;) run_group(g);
    });
}

// Decode (one row of x, x packed): the W rows of all outputs, in order, as units of whole decode
// tiles, about k_decode_unit_bytes each, shared out by WorkSegments. Each thread streams through
// one contiguous part of the weights, so the next tile that a tile prefetches (decode_bf16.h) is
// almost always its own; a thread the host stops holds the call up by one unit at most.
void share_decode_units(ThreadPool& pool, MatmulScratch& scratch) {
    const std::vector<MatmulJob>& jobs = scratch.jobs;
    const std::vector<MatmulChunkFn>& fns = scratch.fns;
    std::vector<MatmulScratch::Chunk>& units = scratch.chunks;
    for (size_t o = 0; o < jobs.size(); ++o) {
        const int64_t rows = std::clamp<int64_t>(
            k_decode_unit_bytes / jobs[o].w_row_bytes / k_nr1 * k_nr1, k_nr1, k_max_chunk);
        for (int64_t j0 = 0; j0 < jobs[o].m; j0 += rows)
            units.push_back(MatmulScratch::Chunk{int(o), j0, std::min(jobs[o].m, j0 + rows)});
    }
    auto run_unit = [&](int64_t u) {
        const MatmulScratch::Chunk& unit = units[size_t(u)];
        fns[size_t(unit.job)](jobs[size_t(unit.job)], unit.j0, unit.j1, nullptr, 0);
    };
    const int64_t n_units = int64_t(units.size());
    if (n_units == 1 || pool.n_threads() == 1) {
        for (int64_t u = 0; u < n_units; ++u) run_unit(u);
        return;
    }
    scratch.segments.reset(n_units, pool.n_threads());
    pool.run_on_all([&](int t, int) {
        for (int64_t u; (u = scratch.segments.take(t)) >= 0;) run_unit(u);
    });
}

// Threads share out chunks of output columns (panels of W), each over all rows of x, which is
// packed once up front.
void share_columns(ThreadPool& pool, MatmulScratch& scratch, Precision precision, const float* x,
                   int64_t n, std::span<const Backend::MatmulOut> outs, int64_t total_rows) {
    std::vector<MatmulJob>& jobs = scratch.jobs;
    const std::vector<MatmulChunkFn>& fns = scratch.fns;
    const int64_t k = jobs[0].k;
    const float* packed[k_n_pack_layouts] = {};
    for (size_t o = 0; o < outs.size(); ++o) {
        const PackLayout layout = matmul_layout(outs[o].w->dtype, precision);
        const float*& xp = packed[int(layout)];
        if (!xp) xp = pack_x(pool, scratch, layout, x, n, k, jobs[o].ldx);
        jobs[o].xp = xp;
    }

    std::vector<MatmulScratch::Chunk>& chunks = scratch.chunks;
    chunks.clear();
    if (n == 1) {
        share_decode_units(pool, scratch);
        return;
    }

    // Chunks of whole tiles, small enough for L2 and for several chunks per thread (balance under
    // uneven load); with several x rows every chunk re-reads all of x, so fewer, larger ones.
    // The chunks of all outputs form one list, taken in order through a shared counter.
    const int64_t per_thread_chunks = n >= k_mr ? 2 : 4;
    const int64_t per_thread = (total_rows + per_thread_chunks * pool.n_threads() - 1) /
                               (per_thread_chunks * pool.n_threads());
    for (size_t o = 0; o < jobs.size(); ++o) {
        const int64_t m = jobs[o].m;
        const int64_t chunk = std::max<int64_t>(
            k_chunk_align,
            std::min({k_panel_bytes / jobs[o].w_row_bytes, per_thread, k_max_chunk}) /
                k_chunk_align * k_chunk_align);
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

}  // namespace

void matmul(ThreadPool& pool, MatmulScratch& scratch, Precision precision,
            const float* x /*[n, k]*/, int64_t n, const TensorView& w /*[m, k]*/,
            const TensorView* bias /*[m] or null*/, float* y /*[n, m]*/) {
    const Backend::MatmulOut out{&w, bias, y};
    matmuls(pool, scratch, precision, x, n, std::span(&out, 1));
}

void matmuls(ThreadPool& pool, MatmulScratch& scratch, Precision precision,
             const float* x /*[n, k]*/, int64_t n, std::span<const Backend::MatmulOut> outs) {
    if (n <= 0 || outs.empty()) return;
    const int64_t k = outs[0].w->row_elems();  // k > 0: a TensorView has no empty rows
    if (scratch.biases.size() < outs.size()) scratch.biases.resize(outs.size());

    std::vector<MatmulJob>& jobs = scratch.jobs;
    std::vector<MatmulChunkFn>& fns = scratch.fns;
    jobs.assign(outs.size(), MatmulJob{});
    fns.assign(outs.size(), nullptr);
    int64_t total_rows = 0, w_bytes = 0;
    for (size_t o = 0; o < outs.size(); ++o) {
        const TensorView& w = *outs[o].w;
        if (w.row_elems() != k)
            fail(ErrorKind::invalid_argument,
                 "matmuls: weight {} has rows of {} elements, expected {}", o, w.row_elems(), k);
        MatmulJob& job = jobs[o];
        fns[o] = chunk_fn(w.dtype, precision);
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
        job.ldx = packed_row_floats(matmul_layout(w.dtype, precision), k);
        total_rows += job.m;
        w_bytes += job.m * job.w_row_bytes;
    }

    const int64_t n_tiles = (n + k_mr - 1) / k_mr;
    if (pool.n_threads() > 1 && n_tiles >= k_row_split_min_tiles * pool.n_threads() &&
        w_bytes <= k_row_split_max_weight_bytes) {
        share_rows(pool, scratch, precision, x, n, outs);
    } else {
        share_columns(pool, scratch, precision, x, n, outs, total_rows);
    }
}

}  // namespace encore::cpu
