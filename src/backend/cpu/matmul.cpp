// The matmul driver (see matmul.h): converts the bias, packs x into the layout the weight dtype's
// kernel reads (zero-padded to whole steps), and hands chunks of output columns to the threads of
// the pool through a shared counter. A chunk is a panel of W rows small enough to stay in L2 while
// every row tile of x passes over it, so each weight is read from memory once per call.
#include "backend/cpu/matmul.h"

#include <algorithm>
#include <atomic>

#include "backend/cpu/matmul_tile.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace encore::cpu {

int64_t matmul_k_step() {
    return k_step;
}

PackLayout matmul_layout(DType dtype) {
    return dtype == DType::bf16 ? PackLayout::even_odd : PackLayout::plain;
}

namespace {

using ChunkFn = void (*)(const MatmulJob&, int64_t, int64_t);

ChunkFn chunk_fn(DType dtype) {
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

// Packs rows [i0, i1) of x [n, k] into xp [n, ldx] in `layout`, zero-padding each row to ldx.
void pack_rows(PackLayout layout, const float* x, int64_t k, int64_t ldx, int64_t i0, int64_t i1,
               float* xp) {
    const int64_t half = k_step / 2;
    for (int64_t i = i0; i < i1; ++i) {
        const float* xi = x + i * k;
        float* pi = xp + i * ldx;
        if (layout == PackLayout::plain) {
            std::copy(xi, xi + k, pi);
            std::fill(pi + k, pi + ldx, 0.0f);
            continue;
        }
        for (int64_t s = 0; s < ldx; s += k_step) {  // even elements first, then odd ones
            for (int64_t t = 0; t < half; ++t) {
                const int64_t e = s + 2 * t, o = e + 1;
                pi[s + t] = e < k ? xi[e] : 0.0f;
                pi[s + half + t] = o < k ? xi[o] : 0.0f;
            }
        }
    }
}

// Output columns per chunk: a W panel of about this many bytes stays in L2 next to the x tiles.
constexpr int64_t k_panel_bytes = 256 << 10;

}  // namespace

void matmul(ThreadPool& pool, MatmulScratch& scratch, const float* x /*[n, k]*/, int64_t n,
            const TensorView& w /*[m, k]*/, const TensorView* bias /*[m] or null*/,
            float* y /*[n, m]*/) {
    const int64_t m = w.n_rows(), k = w.row_elems();
    if (n <= 0 || m <= 0) return;
    const ChunkFn fn = chunk_fn(w.dtype);

    MatmulJob job;
    job.n = n, job.k = k, job.m = m, job.y = y;
    job.w = static_cast<const uint8_t*>(w.data);
    job.w_row_bytes = w.row_bytes();
    if (bias) {
        if (bias->n_elements() != m)
            fail(ErrorKind::invalid_argument, "matmul bias has {} elements, expected {}",
                 bias->n_elements(), m);
        scratch.bias.resize(size_t(m));
        dequantize_row(bias->dtype, bias->data, scratch.bias.data(), m);
        job.bias = scratch.bias.data();
    }

    const PackLayout layout = matmul_layout(w.dtype);
    if (layout == PackLayout::plain && k % k_step == 0) {
        job.xp = x, job.ldx = k;  // x is already in the kernel's layout
    } else {
        const int64_t ldx = (k + k_step - 1) / k_step * k_step;
        scratch.packed_x.resize(size_t(n * ldx));
        float* xp = scratch.packed_x.data();
        if (n * ldx >= (int64_t(1) << 16)) {
            pool.parallel_for(
                n, [&](int64_t i0, int64_t i1, int) { pack_rows(layout, x, k, ldx, i0, i1, xp); });
        } else {
            pack_rows(layout, x, k, ldx, 0, n, xp);
        }
        job.xp = xp, job.ldx = ldx;
    }

    // Chunks of whole decode tiles, small enough for L2 and for several chunks per thread.
    const int64_t per_thread = (m + 4 * pool.n_threads() - 1) / (4 * pool.n_threads());
    const int64_t chunk = std::max<int64_t>(
        k_nr1, std::min(k_panel_bytes / job.w_row_bytes, per_thread) / k_nr1 * k_nr1);
    const int64_t n_chunks = (m + chunk - 1) / chunk;
    if (n_chunks == 1 || pool.n_threads() == 1) {
        fn(job, 0, m);
        return;
    }
    std::atomic<int64_t> next{0};
    pool.run_on_all([&](int, int) {
        for (int64_t c; (c = next.fetch_add(1, std::memory_order_relaxed)) < n_chunks;)
            fn(job, c * chunk, std::min(m, (c + 1) * chunk));
    });
}

}  // namespace encore::cpu
