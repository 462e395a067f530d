// Matmul chunk kernel for bf16 weights. One full-width load of k_step bf16 values, seen as 32-bit
// lanes, splits in one op each into f32 vectors of the even elements (`lane << 16`) and of the odd
// elements (`lane & 0xffff0000`); x is packed in the matching even/odd layout, so the inner loop
// needs no widening shuffles.
#include "backend/cpu/matmul_tile.h"

namespace encore::cpu {

namespace {

struct Bf16Rows {
    static constexpr bool k_full_steps = false;
    static constexpr int64_t k_elem_bytes = 2;
    template <int H>
    static HWY_INLINE VF load(const uint8_t* row, int64_t step) {
        const DF df;
        const hn::RebindToUnsigned<DF> du;
        const uint32_t* p = reinterpret_cast<const uint32_t*>(row) + step * k_step / 2;
        // Each half reloads the step (from L1): the compiler would otherwise share one load
        // between the halves and keep the other half's vector live, spilling an accumulator.
        if constexpr (H == 1) asm("" : "+r"(p));
        const auto v = hn::LoadU(du, p);
        if constexpr (H == 0) return hn::BitCast(df, hn::ShiftLeft<16>(v));  // even elements
        return hn::BitCast(df, hn::And(v, hn::Set(du, 0xffff0000u)));        // odd elements
    }
    static HWY_INLINE void load2(const uint8_t* row, int64_t step, VF& a, VF& b) {
        const DF df;
        const hn::RebindToUnsigned<DF> du;
        const auto v =
            in_register(hn::LoadU(du, reinterpret_cast<const uint32_t*>(row) + step * k_step / 2));
        a = hn::BitCast(df, hn::ShiftLeft<16>(v));
        b = hn::BitCast(df, hn::And(v, hn::Set(du, 0xffff0000u)));
    }
};

}  // namespace

void matmul_chunk_bf16(const MatmulJob& job, int64_t j0, int64_t j1, const uint8_t* prefetch,
                       int64_t prefetch_bytes) {
    matmul_chunk<Bf16Rows>(job, j0, j1, prefetch, prefetch_bytes);
}

}  // namespace encore::cpu
