// Matmul chunk kernel for f32 weights: a step is two plain vector loads of a W row.
#include "backend/cpu/matmul_tile.h"

namespace encore::cpu {

namespace {

struct F32Rows {
    static constexpr bool k_full_steps = false;
    static constexpr int k_halves = 2;
    static constexpr bool k_bf16_pairs = false;
    static constexpr int64_t k_elem_bytes = 4;
    static constexpr int64_t k_step_bytes = k_step * 4;
    template <int H>
    static HWY_INLINE VF load(const uint8_t* row, int64_t step) {
        const DF df;
        // In a register: loaded once, not folded into each of the MR multiply-adds using it.
        return in_register(hn::LoadU(
            df, reinterpret_cast<const float*>(row) + step * k_step + H * int64_t(hn::Lanes(df))));
    }
    static HWY_INLINE void load2(const uint8_t* row, int64_t step, VF& a, VF& b) {
        a = load<0>(row, step);
        b = load<1>(row, step);
    }
};

}  // namespace

void matmul_chunk_f32(const MatmulJob& job, int64_t j0, int64_t j1, const uint8_t* prefetch,
                      int64_t prefetch_bytes) {
    matmul_chunk<F32Rows>(job, j0, j1, prefetch, prefetch_bytes);
}

}  // namespace encore::cpu
