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
    static constexpr bool k_full_steps = true;  // both halves share the block scale
    static constexpr int k_halves = 2;
    static constexpr bool k_bf16_pairs = false;
    static constexpr int64_t k_elem_bytes = 0;
    static constexpr int64_t k_step_bytes = sizeof(BlockQ8_0) * k_step / k_quant_block;
    // Elements [e, e + lanes) of a row as float(q) * d.
    static HWY_INLINE VF values(const BlockQ8_0* blk, int64_t e0, VF d) {
        const DF df;
        const hn::Rebind<int8_t, DF> di8;
        const hn::Rebind<int32_t, DF> di32;
        return hn::Mul(hn::ConvertTo(df, hn::PromoteTo(di32, hn::LoadU(di8, blk->qs + e0))), d);
    }
    template <int H>
    static HWY_INLINE VF load(const uint8_t* row, int64_t step) {
        const DF df;
        const int64_t e = step * k_step + H * int64_t(hn::Lanes(df));  // first element
        const auto* blk = reinterpret_cast<const BlockQ8_0*>(row) + e / k_quant_block;
        return values(blk, e % k_quant_block, hn::Set(df, scale_f32(blk->d)));
    }
    static HWY_INLINE void load2(const uint8_t* row, int64_t step, VF& a, VF& b) {
        const DF df;
        const int64_t e = step * k_step;  // a step lies inside one block
        const auto* blk = reinterpret_cast<const BlockQ8_0*>(row) + e / k_quant_block;
        const VF d = hn::Set(df, scale_f32(blk->d));
        a = values(blk, e % k_quant_block, d);
        b = values(blk, e % k_quant_block + int64_t(hn::Lanes(df)), d);
    }
};

struct Q4Rows {
    static constexpr bool k_full_steps = true;  // both halves share the block scale
    static constexpr int k_halves = 2;
    static constexpr bool k_bf16_pairs = false;
    static constexpr int64_t k_elem_bytes = 0;
    static constexpr int64_t k_step_bytes = sizeof(BlockQ4_0) * k_step / k_quant_block;
    // Elements [e0, e0 + lanes) of a block, e0 a multiple of the lane count: element i < 16 is
    // the low nibble of qs[i], element i >= 16 the high nibble of qs[i - 16]; value (q - 8) * d.
    static HWY_INLINE VF values(const BlockQ4_0* blk, int64_t e0, VF d) {
        const DF df;
        const hn::Rebind<uint8_t, DF> du8;
        const hn::Rebind<int32_t, DF> di32;
        const hn::RebindToUnsigned<DF> du32;
        auto q = hn::PromoteTo(du32, hn::LoadU(du8, blk->qs + e0 % 16));
        q = e0 >= 16 ? hn::ShiftRight<4>(q) : hn::And(q, hn::Set(du32, 15u));
        const auto v = hn::Sub(hn::BitCast(di32, q), hn::Set(di32, 8));
        return hn::Mul(hn::ConvertTo(df, v), d);
    }
    template <int H>
    static HWY_INLINE VF load(const uint8_t* row, int64_t step) {
        const DF df;
        const int64_t e = step * k_step + H * int64_t(hn::Lanes(df));
        const auto* blk = reinterpret_cast<const BlockQ4_0*>(row) + e / k_quant_block;
        return values(blk, e % k_quant_block, hn::Set(df, scale_f32(blk->d)));
    }
    static HWY_INLINE void load2(const uint8_t* row, int64_t step, VF& a, VF& b) {
        const DF df;
        const int64_t e = step * k_step;
        const auto* blk = reinterpret_cast<const BlockQ4_0*>(row) + e / k_quant_block;
        const VF d = hn::Set(df, scale_f32(blk->d));
        if constexpr (k_step == k_quant_block) {
            // A step is a whole block: one load gives both halves, and a 16-entry table of
            // float(i - 8) * d (the same products as above) maps nibbles to values in one lookup.
            const hn::Rebind<uint8_t, DF> du8;
            const hn::RebindToSigned<DF> di32;
            const hn::RebindToUnsigned<DF> du32;
            const auto q = hn::PromoteTo(du32, hn::LoadU(du8, blk->qs));
            const VF table = hn::Mul(hn::Sub(hn::Iota(df, 0.0f), hn::Set(df, 8.0f)), d);
            a = hn::TableLookupLanes(
                table, hn::IndicesFromVec(df, hn::BitCast(di32, hn::And(q, hn::Set(du32, 15u)))));
            b = hn::TableLookupLanes(
                table, hn::IndicesFromVec(df, hn::BitCast(di32, hn::ShiftRight<4>(q))));
        } else {
            a = values(blk, e % k_quant_block, d);
            b = values(blk, e % k_quant_block + int64_t(hn::Lanes(df)), d);
        }
    }
};

}  // namespace

void matmul_chunk_q8_0(const MatmulJob& job, int64_t j0, int64_t j1, const uint8_t* prefetch,
                       int64_t prefetch_bytes) {
    matmul_chunk<Q8Rows>(job, j0, j1, prefetch, prefetch_bytes);
}

void matmul_chunk_q4_0(const MatmulJob& job, int64_t j0, int64_t j1, const uint8_t* prefetch,
                       int64_t prefetch_bytes) {
    matmul_chunk<Q4Rows>(job, j0, j1, prefetch, prefetch_bytes);
}

}  // namespace encore::cpu
