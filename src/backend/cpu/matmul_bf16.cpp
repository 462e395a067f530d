// Matmul chunk kernels for bf16 weights. A step of a W row (k_step bf16 values, one full-width
// load) is used as it lies in memory, as bf16 pairs: multiplied with x's hi part, then with its lo
// part (x is packed as PackLayout::bf16_split), by dot_bf16_pairs, so a step costs one load and
// two multiply-adds per W row and no conversion. With Precision::fast, x is one bf16 part
// (PackLayout::bf16_single) and a step one multiply-add per W row.
#include "backend/cpu/matmul_tile.h"

namespace encore::cpu {

namespace {

struct Bf16Rows {
    static constexpr bool k_full_steps = false;
    static constexpr int k_halves = 2;
    static constexpr bool k_bf16_pairs = true;
    static constexpr int64_t k_elem_bytes = 2;
    static constexpr int64_t k_step_bytes = k_step * 2;
    template <int H>
    static HWY_INLINE VF load(const uint8_t* row, int64_t step) {
        const DF df;
        const float* p = reinterpret_cast<const float*>(row) + step * k_step / 2;
        // Each half reloads the step (from L1): the compiler would otherwise keep the step of
        // every W row of the tile live between the halves, spilling accumulators.
        if constexpr (H == 1) asm("" : "+r"(p));
        return hn::LoadU(df, p);
    }
    static HWY_INLINE void load2(const uint8_t* row, int64_t step, VF& a, VF& b) {
        const DF df;
        a = in_register(hn::LoadU(df, reinterpret_cast<const float*>(row) + step * k_step / 2));
        b = a;
    }
};

// x rounded to one bf16: each step is "a" only.
struct Bf16FastRows {
    static constexpr bool k_full_steps = false;
    static constexpr int k_halves = 1;
    static constexpr bool k_bf16_pairs = true;
    static constexpr int64_t k_elem_bytes = 2;
    static constexpr int64_t k_step_bytes = k_step * 2;
    template <int H>
    static HWY_INLINE VF load(const uint8_t* row, int64_t step) {
        static_assert(H == 0);
        return in_register(
            hn::LoadU(DF(), reinterpret_cast<const float*>(row) + step * k_step / 2));
    }
};

}  // namespace

void matmul_chunk_bf16_fast(const MatmulJob& job, int64_t j0, int64_t j1, const uint8_t* prefetch,
                            int64_t prefetch_bytes) {
    matmul_chunk<Bf16FastRows>(job, j0, j1, prefetch, prefetch_bytes);
}

void matmul_chunk_bf16(const MatmulJob& job, int64_t j0, int64_t j1, const uint8_t* prefetch,
                       int64_t prefetch_bytes) {
    matmul_chunk<Bf16Rows>(job, j0, j1, prefetch, prefetch_bytes);
}

}  // namespace encore::cpu
