// Matmul chunk kernel for f16 weights: a step is two half-width loads of f16 values widened to
// f32 in registers (vcvtph2ps on x86), exact like core/dtype.h's f16_to_f32.
#include "backend/cpu/matmul_tile.h"

namespace encore::cpu {

namespace {

struct F16Rows {
    static constexpr bool k_full_steps = false;
    static constexpr int k_halves = 2;
    static constexpr bool k_bf16_pairs = false;
    static constexpr int64_t k_elem_bytes = 2;
    static constexpr int64_t k_step_bytes = k_step * 2;
    template <int H>
    static HWY_INLINE VF load(const uint8_t* row, int64_t step) {
        const DF df;
        const hn::Rebind<hwy::float16_t, DF> dh;
        const auto* p = reinterpret_cast<const hwy::float16_t*>(row) + step * k_step;
        return hn::PromoteTo(df, hn::LoadU(dh, p + H * int64_t(hn::Lanes(df))));
    }
    static HWY_INLINE void load2(const uint8_t* row, int64_t step, VF& a, VF& b) {
        a = load<0>(row, step);
        b = load<1>(row, step);
    }
};

}  // namespace

void matmul_chunk_f16(const MatmulJob& job, int64_t j0, int64_t j1, const uint8_t* prefetch,
                      int64_t prefetch_bytes) {
    matmul_chunk<F16Rows>(job, j0, j1, prefetch, prefetch_bytes);
}

}  // namespace encore::cpu
