// The register-tiled dot-product kernel shared by every weight dtype (tinyBLAS style): a tile of
// MR rows of x times NR rows of W keeps one vector accumulator per (row, column) pair across k;
// each step a weight decoder turns one step of a W row into two vectors in registers, which are
// multiplied into the accumulators of all MR rows ("a" then "b"): f32 vectors times x's halves by
// FMA, or for bf16 the raw W step twice, as bf16-pair dot products with x's hi and lo parts (see
// matmul.h); a decoder of one half per step (bf16 with x rounded to one bf16, Precision::fast)
// multiplies the raw W step once. With several x rows, k is
// walked in blocks (the x tile slice stays in L1 while the tile sweeps a W panel), the
// accumulators being stored and reloaded exactly between blocks. After k, the accumulators are
// reduced by sum_lanes (one fixed tree each). The per-element order is the same for every MR, NR
// and blocking, so decode (MR = 1) and prefill (MR = 4) agree bitwise. Included only by the
// matmul_<dtype>.cpp files and the driver.
//
// A weight decoder `Rows` provides:
//   static constexpr int64_t k_elem_bytes;   // bytes per element for plain types, 0 if quantized
//   template <int H> static VF load(const uint8_t* row, int64_t step);  // half H of a step
//   static void load2(const uint8_t* row, int64_t step, VF& a, VF& b);   // both halves
//   static constexpr bool k_full_steps;  // decode both halves at once even for many x rows
//   static constexpr bool k_bf16_pairs;  // W and x are bf16 pairs (dot_bf16_pairs), not f32
//   static constexpr int64_t k_step_bytes;  // bytes of a W row per step
//   static constexpr int k_halves;  // multiply-adds per step and W row: 2 ("a", "b"), or 1 ("a")
#pragma once

#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/cpu/decode_bf16.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/simd.h"
#include "hwy/aligned_allocator.h"
#include "hwy/cache_control.h"

namespace encore::cpu {

constexpr int64_t k_step = 2 * int64_t(HWY_LANES(float));  // elements of k per step
// How far ahead in a W row decode prefetches (see decode_bf16.h).
constexpr int64_t k_decode_prefetch_ahead = 512;

// Floats of packed x per step and row: one vector per half.
template <class Rows>
constexpr int64_t k_x_step = Rows::k_halves* int64_t(HWY_LANES(float));

// acc + x * w for one half step of a W row (see the decoder's k_bf16_pairs).
template <class Rows>
HWY_INLINE VF multiply_add(VF x, VF w, VF acc) {
    if constexpr (Rows::k_bf16_pairs) return dot_bf16_pairs(acc, w, x);
    return hn::MulAdd(x, w, acc);
}

// Half H (0: "a", 1: "b") of step s: the MR x halves into registers, then for each W row its
// decoded half multiplied into the accumulators of all MR rows.
template <class Rows, int MR, int NR, int H>
HWY_INLINE void matmul_half_step(VF (&acc)[MR][NR], const float* xs, const uint8_t* const* rows,
                                 int64_t row_step) {
    const DF df;
    VF xh[MR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
        xh[r] = in_register(hn::Load(df, xs + r * k_x_step<Rows> + H * int64_t(hn::Lanes(df))));
#pragma GCC unroll 8
    for (int c = 0; c < NR; ++c) {
        const VF w = Rows::template load<H>(rows[c], row_step);
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) acc[r][c] = multiply_add<Rows>(xh[r], w, acc[r][c]);
    }
}

// One step: every accumulator gets its "a" product, then its "b" product (only "a" for decoders
// of one half per step). With few x rows a W row's step is decoded once for both halves
// (quantized blocks share their scale); with many, half steps keep fewer registers live. The
// per-element order is the same either way.
template <class Rows, int MR, int NR>
HWY_INLINE void matmul_step(VF (&acc)[MR][NR], const float* xt, int64_t s,
                            const uint8_t* const* rows, int64_t row_step) {
    const DF df;
    const float* xs = xt + s * MR * k_x_step<Rows>;  // [MR][k_x_step] of this step
    if constexpr (Rows::k_halves == 1) {
        matmul_half_step<Rows, MR, NR, 0>(acc, xs, rows, row_step);
    } else if constexpr (MR <= 2 || Rows::k_full_steps) {
        VF xa[MR], xb[MR];
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            xa[r] = in_register(hn::Load(df, xs + r * k_step));
            xb[r] = in_register(hn::Load(df, xs + r * k_step + int64_t(hn::Lanes(df))));
        }
#pragma GCC unroll 8
        for (int c = 0; c < NR; ++c) {
            VF a, b;
            Rows::load2(rows[c], row_step, a, b);
#pragma GCC unroll 8
            for (int r = 0; r < MR; ++r) {
                acc[r][c] = multiply_add<Rows>(xa[r], a, acc[r][c]);
                acc[r][c] = multiply_add<Rows>(xb[r], b, acc[r][c]);
            }
        }
    } else {
        matmul_half_step<Rows, MR, NR, 0>(acc, xs, rows, row_step);
        matmul_half_step<Rows, MR, NR, 1>(acc, xs, rows, row_step);
    }
}

// Steps [s0, s1) of a tile whose top-left output is (i0, j0). Accumulators start at zero when s0
// is 0, else are reloaded from `acc` ([MR][NR][lanes]) where the previous k block left them;
// when s1 is the last step they are reduced into y, else stored back. Storing and reloading a
// vector is exact, so k blocking does not change any result.
template <class Rows, int MR, int NR>
HWY_INLINE void matmul_tile(const MatmulJob& job, int64_t i0, int64_t j0, int64_t s0, int64_t s1,
                            float* acc_buf) {
    const DF df;
    const int64_t nl = hn::Lanes(df);
    const int64_t n_full = job.k / k_step;  // steps read straight from W
    const int64_t tail = job.k % k_step;    // elements of a last, zero-padded step
    const int64_t n_steps = n_full + (tail > 0 ? 1 : 0);

    const uint8_t* wr[NR];
    for (int c = 0; c < NR; ++c) wr[c] = job.w + (j0 + c) * job.w_row_bytes;
    const float* xt = job.xp + i0 * job.ldx;  // this row tile of packed x: [steps][MR][x step]

    VF acc[MR][NR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int c = 0; c < NR; ++c)
            acc[r][c] = s0 == 0 ? hn::Zero(df) : hn::Load(df, acc_buf + (r * NR + c) * nl);

    const int64_t s_end = std::min(s1, n_full);
    if constexpr (MR == 1 && NR == 8 && Rows::k_bf16_pairs && k_has_decode_bf16x8) {
        if (s0 < s_end)  // decode of bf16 weights: the same steps in assembly (decode_bf16.h)
            decode_bf16x8<k_decode_prefetch_ahead, Rows::k_halves>(
                acc[0], xt + s0 * k_x_step<Rows>, xt + s_end * k_x_step<Rows>,
                wr[0] + s0 * k_step * 2, job.w_row_bytes);
    } else if constexpr (MR == 1) {
        // Decode: the row addresses are recomputed from one pointer and the row stride each step
        // (integer ops), instead of NR pointers that the compiler would keep in vector registers.
        // Each row's bytes k_decode_prefetch_ahead ahead are prefetched, and past the end of the
        // rows, the first bytes of the next tile's rows (as decode_bf16.h does).
        int64_t rb = job.w_row_bytes;
        const uint8_t* w0 = wr[0];
        constexpr int64_t step_bytes = Rows::k_step_bytes;
        const int64_t span = s_end * step_bytes;  // bytes of each row this loop reads
        for (int64_t s = s0; s < s_end; ++s) {
            asm("" : "+r"(rb));
            const int64_t ahead = s * step_bytes + k_decode_prefetch_ahead;
            const uint8_t* pf = ahead < span ? w0 + ahead : w0 + NR * rb + (ahead - span);
            for (int c = 0; c < NR; ++c)
                for (int64_t line = 0; line < step_bytes; line += 64)
                    hwy::Prefetch(pf + c * rb + line);
            const uint8_t* rows[NR];
            for (int c = 0; c < NR; ++c) rows[c] = w0 + c * rb;
            matmul_step<Rows, MR, NR>(acc, xt, s, rows, s);
        }
    } else {
        for (int64_t s = s0; s < s_end; ++s) matmul_step<Rows, MR, NR>(acc, xt, s, wr, s);
    }
    if constexpr (Rows::k_elem_bytes > 0) {
        if (tail > 0 && s1 == n_steps) {  // the last partial step, from zero-padded copies
            alignas(64) uint8_t buf[NR][k_step * Rows::k_elem_bytes];
            const uint8_t* br[NR];
            for (int c = 0; c < NR; ++c) {
                std::memset(buf[c], 0, sizeof(buf[c]));
                std::memcpy(buf[c], wr[c] + n_full * k_step * Rows::k_elem_bytes,
                            size_t(tail * Rows::k_elem_bytes));
                br[c] = buf[c];
            }
            matmul_step<Rows, MR, NR>(acc, xt, n_full, br, 0);
        }
    }

    if (s1 < n_steps) {
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
            for (int c = 0; c < NR; ++c) hn::Store(acc[r][c], df, acc_buf + (r * NR + c) * nl);
        return;
    }
    // Lane sums in groups, through one fixed tree per accumulator.
    constexpr int n_acc = MR * NR;
    VF flat[n_acc];  // a copy, so that acc itself never needs an address (and stays in registers)
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int c = 0; c < NR; ++c) flat[r * NR + c] = acc[r][c];
    float sums[n_acc];
    for (int g = 0; g < n_acc; g += k_sum_lanes_max)
        sum_lanes(flat + g, std::min(k_sum_lanes_max, n_acc - g), sums + g);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
        float* yr = job.y + (i0 + r) * job.m + j0;
#pragma GCC unroll 8
        for (int c = 0; c < NR; ++c)
            yr[c] = job.bias ? sums[r * NR + c] + job.bias[j0 + c] : sums[r * NR + c];
    }
}

// Tile sizes: MR rows of x (prefill) and NR rows of W per tile; decode (one row of x) uses a
// wider NR1 to keep enough independent FMA chains in flight.
// Measured on the 2-core Zen EPYC (bench/KERNELS.md), bf16 prefill n = 128 on one core: 7x3 in
// half steps 72-78% of the FMA peak, 4x6 and 5x4 69-72%, 6x3 and 6x4 66-70%, 8x3 60-65% and 10x2
// far lower (spills); for decode NR1 = 8 and 4 are equal within noise, 12 and 16 slower.
constexpr int k_mr = 7;
constexpr int k_nr = 3;
constexpr int k_nr1 = 8;
constexpr int k_nr_full = 4;  // NR for decoders with k_full_steps
// Steps per k block when x has several rows: the x tile slice and the W rows of a tile then
// stay in L1 while the tile sweeps the panel.
constexpr int64_t k_block_steps = 16;

// The next W panel, pulled into cache a few lines per tile while this chunk runs (several x rows:
// compute-bound, so the loads hide behind the multiply-adds).
struct PanelPrefetch {
    const uint8_t* next = nullptr;
    const uint8_t* end = nullptr;
    int64_t per_tile = 0;  // bytes per tile call, whole cache lines

    HWY_INLINE void step() {
        if (next >= end) return;
        const uint8_t* stop = std::min(end, next + per_tile);
        for (; next < stop; next += 64) hwy::Prefetch(next);
    }
};

// One k block of the tiles of rows [i0, i0 + MR) over columns [j0, j1).
template <class Rows, int MR>
HWY_INLINE void matmul_row_tiles(const MatmulJob& job, int64_t i0, int64_t j0, int64_t j1,
                                 int64_t s0, int64_t s1, float* acc_buf, PanelPrefetch& panel) {
    // Full steps hold both decoded halves: fewer W rows per tile leave room for them.
    constexpr int NR = MR == 1 ? k_nr1 : Rows::k_full_steps ? k_nr_full : k_nr;
    const int64_t nl = hn::Lanes(DF());
    int64_t j = j0;
    for (; j + NR <= j1; j += NR) {
        if constexpr (MR > 1) panel.step();
        matmul_tile<Rows, MR, NR>(job, i0, j, s0, s1, acc_buf + (j - j0) * MR * nl);
    }
    float* acc = acc_buf + (j - j0) * MR * nl;
    switch (j1 - j) {  // the last columns, fewer than NR
        case 7:
            if constexpr (NR > 7) matmul_tile<Rows, MR, 7>(job, i0, j, s0, s1, acc);
            break;
        case 6:
            if constexpr (NR > 6) matmul_tile<Rows, MR, 6>(job, i0, j, s0, s1, acc);
            break;
        case 5:
            if constexpr (NR > 5) matmul_tile<Rows, MR, 5>(job, i0, j, s0, s1, acc);
            break;
        case 4:
            if constexpr (NR > 4) matmul_tile<Rows, MR, 4>(job, i0, j, s0, s1, acc);
            break;
        case 3:
            matmul_tile<Rows, MR, 3>(job, i0, j, s0, s1, acc);
            break;
        case 2:
            matmul_tile<Rows, MR, 2>(job, i0, j, s0, s1, acc);
            break;
        case 1:
            matmul_tile<Rows, MR, 1>(job, i0, j, s0, s1, acc);
            break;
        default:
            break;
    }
}

template <class Rows, int MR>
HWY_INLINE void matmul_rows(const MatmulJob& job, int64_t i0, int64_t j0, int64_t j1,
                            float* acc_buf, PanelPrefetch& panel) {
    const int64_t n_steps = (job.k + k_step - 1) / k_step;
    const int64_t block = job.n == 1 ? n_steps : k_block_steps;
    for (int64_t s0 = 0; s0 < n_steps; s0 += block)
        matmul_row_tiles<Rows, MR>(job, i0, j0, j1, s0, std::min(n_steps, s0 + block), acc_buf,
                                   panel);
}

// The last n % k_mr rows: one tile row of exactly that many rows (MR counts down to it).
template <class Rows, int MR>
HWY_INLINE void matmul_rest(const MatmulJob& job, int64_t i0, int64_t j0, int64_t j1,
                            float* acc_buf, PanelPrefetch& panel) {
    if constexpr (MR >= 1) {
        if (job.n - i0 == MR) {
            matmul_rows<Rows, MR>(job, i0, j0, j1, acc_buf, panel);
        } else {
            matmul_rest<Rows, MR - 1>(job, i0, j0, j1, acc_buf, panel);
        }
    }
}

// y[:, j0:j1] for all rows of x, j1 - j0 <= k_max_chunk: x-row tiles inside the W panel
// [j0, j1), so the panel stays in L2 while x streams past it; meanwhile the next panel
// (`prefetch_bytes` from `prefetch`) is pulled into cache.
template <class Rows>
void matmul_chunk(const MatmulJob& job, int64_t j0, int64_t j1, const uint8_t* prefetch,
                  int64_t prefetch_bytes) {
    static thread_local hwy::AlignedFreeUniquePtr<float[]> acc_storage;
    if (!acc_storage) acc_storage = hwy::AllocateAligned<float>(k_mr * k_max_chunk * k_step / 2);
    float* acc_buf = acc_storage.get();  // [k_mr][j1 - j0][lanes] in tile order

    PanelPrefetch panel;
    if (prefetch && job.n > 1) {
        const int64_t n_steps = (job.k + k_step - 1) / k_step;
        const int64_t tile_calls = (job.n + k_mr - 1) / k_mr *
                                   ((n_steps + k_block_steps - 1) / k_block_steps) *
                                   std::max<int64_t>(1, (j1 - j0) / k_nr);
        panel.next = prefetch;
        panel.end = prefetch + prefetch_bytes;
        panel.per_tile = (prefetch_bytes / tile_calls + 64) / 64 * 64;
    }
    int64_t i = 0;
    for (; i + k_mr <= job.n; i += k_mr) matmul_rows<Rows, k_mr>(job, i, j0, j1, acc_buf, panel);
    if (i < job.n) matmul_rest<Rows, k_mr - 1>(job, i, j0, j1, acc_buf, panel);
}

}  // namespace encore::cpu
