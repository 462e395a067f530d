// Matmul chunk kernels for the llama.cpp block-quantized weights q8_0 and q4_0 (layouts in
// core/dtype.h): each step dequantizes part of one 32-element block in registers, value =
// float(q) * scale exactly as core/dtype.h's dequantize_row, so the products match the reference.
// k is a multiple of the block size, hence of k_step, so there is no tail.
#include "backend/cpu/matmul_tile.h"

#if HWY_ARCH_X86
#include <immintrin.h>
#endif

namespace encore::cpu {

namespace {

static_assert(k_quant_block % k_step == 0 || k_step % k_quant_block == 0);
static_assert(k_step <= k_quant_block, "a step must not span two quant blocks");

HWY_INLINE float scale_f32(uint16_t d) {
#if HWY_ARCH_X86 && defined(__F16C__)
    return _cvtsh_ss(d);  // exact, equal to f16_to_f32
#else
    return f16_to_f32(d);
#endif
}

struct Q8Rows {
    static constexpr int64_t k_elem_bytes = 0;
    template <int H>
    static HWY_INLINE VF load(const uint8_t* row, int64_t step) {
        const DF df;
        const hn::Rebind<int8_t, DF> di8;
        const hn::Rebind<int32_t, DF> di32;
        const int64_t e = step * k_step + H * int64_t(hn::Lanes(df));  // first element
        const auto* blk = reinterpret_cast<const BlockQ8_0*>(row) + e / k_quant_block;
        const VF q = hn::ConvertTo(df, hn::PromoteTo(di32, hn::LoadU(di8, blk->qs + e % 32)));
        return hn::Mul(q, hn::Set(df, scale_f32(blk->d)));
    }
};

struct Q4Rows {
    static constexpr int64_t k_elem_bytes = 0;
    // Elements [e0, e0 + lanes) of a block, e0 a multiple of the lane count: element i < 16 is
    // the low nibble of qs[i], element i >= 16 the high nibble of qs[i - 16].
    template <int H>
    static HWY_INLINE VF load(const uint8_t* row, int64_t step) {
        const DF df;
        const hn::Rebind<uint8_t, DF> du8;
        const hn::Rebind<int32_t, DF> di32;
        const hn::RebindToUnsigned<DF> du32;
        const int64_t e = step * k_step + H * int64_t(hn::Lanes(df));
        const auto* blk = reinterpret_cast<const BlockQ4_0*>(row) + e / k_quant_block;
        const int64_t e0 = e % k_quant_block;
        auto q = hn::PromoteTo(du32, hn::LoadU(du8, blk->qs + e0 % 16));
        q = e0 >= 16 ? hn::ShiftRight<4>(q) : hn::And(q, hn::Set(du32, 15u));
        const auto v = hn::Sub(hn::BitCast(di32, q), hn::Set(di32, 8));
        return hn::Mul(hn::ConvertTo(df, v), hn::Set(df, scale_f32(blk->d)));
    }
};

}  // namespace

void matmul_chunk_q8_0(const MatmulJob& job, int64_t j0, int64_t j1) {
    matmul_chunk<Q8Rows>(job, j0, j1);
}

void matmul_chunk_q4_0(const MatmulJob& job, int64_t j0, int64_t j1) {
    matmul_chunk<Q4Rows>(job, j0, j1);
}

}  // namespace encore::cpu
