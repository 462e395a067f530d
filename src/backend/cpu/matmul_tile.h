// The register-tiled dot-product kernel shared by every weight dtype (tinyBLAS style): a tile of
// MR rows of x times NR rows of W keeps one vector accumulator per (row, column) pair across k;
// each step a weight decoder turns one step of a W row into two f32 vectors in registers, which
// are multiplied into the accumulators of all MR rows. After k, each accumulator is reduced with
// one fixed lane tree. The per-element order is the same for every MR and NR, so decode (MR = 1)
// and prefill (MR = 4) agree bitwise. Included only by the matmul_<dtype>.cpp files.
//
// A weight decoder `Rows` provides:
//   static constexpr int64_t k_elem_bytes;   // bytes per element for plain types, 0 if quantized
//   static void load(const uint8_t* row, int64_t step, VF& a, VF& b);  // step of a W row
#pragma once

#include <algorithm>
#include <cstring>

#include "backend/cpu/matmul.h"
#include "backend/cpu/simd.h"

namespace encore::cpu {

constexpr int64_t k_step = 2 * int64_t(HWY_LANES(float));  // elements of k per step

template <class Rows, int MR, int NR>
HWY_INLINE void matmul_tile(const MatmulJob& job, int64_t i0, int64_t j0) {
    const DF df;
    const int64_t nl = hn::Lanes(df);
    const int64_t n_full = job.k / k_step;  // steps read straight from W
    const int64_t tail = job.k % k_step;    // elements of a last, zero-padded step

    const uint8_t* wr[NR];
    for (int c = 0; c < NR; ++c) wr[c] = job.w + (j0 + c) * job.w_row_bytes;
    const float* xr[MR];
    for (int r = 0; r < MR; ++r) xr[r] = job.xp + (i0 + r) * job.ldx;

    VF acc[MR][NR];
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 8
        for (int c = 0; c < NR; ++c) acc[r][c] = hn::Zero(df);

    auto step = [&](int64_t s, const uint8_t* const* rows, int64_t row_step) HWY_ATTR {
        VF xa[MR], xb[MR];
#pragma GCC unroll 8
        for (int r = 0; r < MR; ++r) {
            xa[r] = hn::LoadU(df, xr[r] + s * k_step);
            xb[r] = hn::LoadU(df, xr[r] + s * k_step + nl);
        }
#pragma GCC unroll 8
        for (int c = 0; c < NR; ++c) {
            VF a, b;
            Rows::load(rows[c], row_step, a, b);
#pragma GCC unroll 8
            for (int r = 0; r < MR; ++r) {
                acc[r][c] = hn::MulAdd(xa[r], a, acc[r][c]);
                acc[r][c] = hn::MulAdd(xb[r], b, acc[r][c]);
            }
        }
    };

    for (int64_t s = 0; s < n_full; ++s) step(s, wr, s);
    if constexpr (Rows::k_elem_bytes > 0) {
        if (tail > 0) {  // copy the last partial step of each row into a zero-padded buffer
            alignas(64) uint8_t buf[NR][k_step * Rows::k_elem_bytes];
            const uint8_t* br[NR];
            for (int c = 0; c < NR; ++c) {
                std::memset(buf[c], 0, sizeof(buf[c]));
                std::memcpy(buf[c], wr[c] + n_full * k_step * Rows::k_elem_bytes,
                            size_t(tail * Rows::k_elem_bytes));
                br[c] = buf[c];
            }
            step(n_full, br, 0);
        }
    }

#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
        float* yr = job.y + (i0 + r) * job.m + j0;
#pragma GCC unroll 8
        for (int c = 0; c < NR; ++c) {
            const float sum = hn::GetLane(hn::SumOfLanes(df, acc[r][c]));
            yr[c] = job.bias ? sum + job.bias[j0 + c] : sum;
        }
    }
}

// Tile sizes: MR rows of x (prefill) and NR rows of W per tile; decode (one row of x) uses a
// wider NR1 to keep enough independent FMA chains in flight.
constexpr int k_mr = 4;
constexpr int k_nr = 4;
constexpr int k_nr1 = 8;

template <class Rows, int MR>
HWY_INLINE void matmul_row_tiles(const MatmulJob& job, int64_t i0, int64_t j0, int64_t j1) {
    constexpr int NR = MR == 1 ? k_nr1 : k_nr;
    int64_t j = j0;
    for (; j + NR <= j1; j += NR) matmul_tile<Rows, MR, NR>(job, i0, j);
    for (; j < j1; ++j) matmul_tile<Rows, MR, 1>(job, i0, j);
}

// y[:, j0:j1] for all rows of x: x-row tiles inside the W panel [j0, j1), so the panel stays in
// cache while x streams past it.
template <class Rows>
void matmul_chunk(const MatmulJob& job, int64_t j0, int64_t j1) {
    int64_t i = 0;
    for (; i + k_mr <= job.n; i += k_mr) matmul_row_tiles<Rows, k_mr>(job, i, j0, j1);
    switch (job.n - i) {
        case 3:
            matmul_row_tiles<Rows, 3>(job, i, j0, j1);
            break;
        case 2:
            matmul_row_tiles<Rows, 2>(job, i, j0, j1);
            break;
        case 1:
            matmul_row_tiles<Rows, 1>(job, i, j0, j1);
            break;
        default:
            break;
    }
}

}  // namespace encore::cpu
