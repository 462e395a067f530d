// The one place that includes Highway for the CPU backend. Kernels are compiled for the static
// target only (the build uses -march=native): HWY_COMPILE_ONLY_STATIC also works around Highway
// 1.0.3's detect_targets.h, which otherwise fails to compile when AVX3_DL is the baseline. Also
// small helpers shared by the kernel files.
#pragma once

#ifndef HWY_COMPILE_ONLY_STATIC
#define HWY_COMPILE_ONLY_STATIC 1
#endif
#include <hwy/highway.h>

namespace encore::cpu {

namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;  // one full f32 vector of the static target
using VF = hn::Vec<DF>;

// Keeps a vector in a register: GCC otherwise re-folds a vector load into every instruction that
// uses it as a memory operand, which turns a register-tiled kernel into a load-bound one.
template <class V>
HWY_INLINE V in_register(V v) {
#if HWY_ARCH_X86 && (defined(__GNUC__) || defined(__clang__))
    asm("" : "+v"(v.raw));
#endif
    return v;
}

// Sums the lanes of each of `count` vectors: out[v] = sum of the lanes of in[v]. Every vector is
// reduced with the same fixed tree (on 16 lanes: lane i with i + 8, then + 4, + 2, + 1) whatever
// its slot, `count`, or the other vectors; a 16-lane target reduces 16 vectors at once through a
// transposition, far cheaper than one horizontal sum each.
constexpr int k_sum_lanes_max = int(HWY_LANES(float));  // most vectors per sum_lanes call

#if HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128 && HWY_TARGET <= HWY_AVX3
constexpr bool k_transpose = HWY_LANES(float) == 16;
#else
constexpr bool k_transpose = false;
#endif

// The 16-vector transposed sum: lane k_lane_of[v] of the result holds vector v's sum.
HWY_INLINE VF sum16(const VF (&v)[16]) {
    const DF df;
    const hn::Repartition<uint64_t, DF> du64;
    VF c[8];  // c[p]: lanes 0-7 vector 2p, lanes 8-15 vector 2p + 1 (i with i + 8)
    for (int p = 0; p < 8; ++p)
        c[p] = hn::Add(hn::ConcatLowerLower(df, v[2 * p + 1], v[2 * p]),
                       hn::ConcatUpperUpper(df, v[2 * p + 1], v[2 * p]));
    VF e[4];  // one 128-bit block per vector (i with i + 4)
    for (int q = 0; q < 4; ++q) {
        const VF x = c[2 * q], y = c[2 * q + 1];
        e[q] = hn::Add(hn::OddEvenBlocks(hn::SwapAdjacentBlocks(y), x),
                       hn::OddEvenBlocks(y, hn::SwapAdjacentBlocks(x)));
    }
    VF g[2];  // two lanes per vector (i with i + 2)
    for (int h = 0; h < 2; ++h) {
        const auto x = hn::BitCast(du64, e[2 * h]), y = hn::BitCast(du64, e[2 * h + 1]);
        g[h] = hn::Add(hn::BitCast(df, hn::InterleaveLower(x, y)),
                       hn::BitCast(df, hn::InterleaveUpper(du64, x, y)));
    }
    // One lane per vector (i with i + 1).
    const VF a = hn::Add(g[0], hn::Shuffle2301(g[0]));
    const VF b = hn::Add(g[1], hn::Shuffle2301(g[1]));
    return hn::OddEven(b, a);
}

// Lane of sum16's result holding each input vector's sum: the 4-bit reversal of its index.
constexpr int k_lane_of[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};

HWY_INLINE void sum_lanes(const VF* in, int count, float* out) {
    const DF df;
    if constexpr (k_transpose) {
        VF v[16];
        for (int i = 0; i < 16; ++i) v[i] = i < count ? in[i] : hn::Zero(df);
        alignas(64) float r[16];
        hn::Store(sum16(v), df, r);
        for (int i = 0; i < count; ++i) out[i] = r[k_lane_of[i]];
    } else {
        for (int i = 0; i < count; ++i) out[i] = hn::GetLane(hn::SumOfLanes(df, in[i]));
    }
}

// sum_lanes of exactly k_sum_lanes_max vectors, returned as one vector: lane v holds in[v]'s sum
// (the same values, bit for bit).
HWY_INLINE VF sum_lanes_vector(const VF* in) {
    const DF df;
    if constexpr (k_transpose) {
        VF v[16];
        for (int i = 0; i < 16; ++i) v[i] = in[i];
        alignas(64) static constexpr int32_t lane_of[16] = {0, 8, 4, 12, 2, 10, 6, 14,
                                                            1, 9, 5, 13, 3, 11, 7, 15};
        return hn::TableLookupLanes(sum16(v), hn::SetTableIndices(df, lane_of));
    } else {
        alignas(64) float r[k_sum_lanes_max];
        sum_lanes(in, k_sum_lanes_max, r);
        return hn::Load(df, r);
    }
}

// bf16 pairs: a vector of 2 * lanes bf16 values seen as f32 lanes, lane i holding elements 2i (low
// half) and 2i + 1 (high half), as bf16 weights lie in memory.

// acc + w[2i + 1] * x[2i + 1], rounded, then + w[2i] * x[2i], rounded, in every lane i, by two
// FMAs on the widened values (the product of two bf16 values is exact in f32).
HWY_INLINE VF dot_bf16_pairs_fma(VF acc, VF w, VF x) {
    const DF df;
    const hn::RebindToUnsigned<DF> du;
    const auto high = hn::Set(du, 0xffff0000u);
    const auto wu = hn::BitCast(du, w), xu = hn::BitCast(du, x);
    acc = hn::MulAdd(hn::BitCast(df, hn::And(wu, high)), hn::BitCast(df, hn::And(xu, high)), acc);
    return hn::MulAdd(hn::BitCast(df, hn::ShiftLeft<16>(wu)),
                      hn::BitCast(df, hn::ShiftLeft<16>(xu)), acc);
}

// The same in one vdpbf16ps where the target has AVX512-BF16: the same bits, except that the
// instruction treats subnormal inputs and results as zero.
HWY_INLINE VF dot_bf16_pairs(VF acc, VF w, VF x) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3 && defined(__AVX512BF16__)
    return VF{_mm512_dpbf16_ps(acc.raw, __m512bh(w.raw), __m512bh(x.raw))};
#else
    return dot_bf16_pairs_fma(acc, w, x);
#endif
}

// v rounded to the nearest bf16, ties to even, as an f32 (its low 16 bits zero).
HWY_INLINE VF round_to_bf16(VF v) {
    const DF df;
    const hn::RebindToUnsigned<DF> du;
    const auto u = hn::BitCast(du, v);
    const auto odd = hn::And(hn::ShiftRight<16>(u), hn::Set(du, 1u));
    return hn::BitCast(
        df, hn::And(hn::Add(hn::Add(u, hn::Set(du, 0x7fffu)), odd), hn::Set(du, 0xffff0000u)));
}

// The high 16 bits of every f32 lane of h0 then h1 (values from round_to_bf16), as one vector of
// bf16 pairs.
HWY_INLINE VF concat_bf16_pairs(VF h0, VF h1) {
    const DF df;
    const hn::Repartition<uint16_t, DF> du16;
    return hn::BitCast(df, hn::ConcatOdd(du16, hn::BitCast(du16, h1), hn::BitCast(du16, h0)));
}

// x (2 * lanes f32 values, in order: x0 then x1) rounded to one vector of bf16 pairs, bf16(x)
// (|x - bf16(x)| <= 2^-9 |x|): the x of Precision::fast.
HWY_INLINE VF round_bf16_pairs(VF x0, VF x1) {
    return concat_bf16_pairs(round_to_bf16(x0), round_to_bf16(x1));
}

// x (2 * lanes f32 values, in order: x0 then x1) as two vectors of bf16 pairs, hi = bf16(x) and
// lo = bf16(x - hi), both rounded to nearest even. x - hi is exact, so hi + lo is x to 16
// significant bits: |x - hi - lo| <= 2^-16 |x|.
HWY_INLINE void split_bf16(VF x0, VF x1, VF& hi, VF& lo) {
    const VF h0 = round_to_bf16(x0), h1 = round_to_bf16(x1);
    hi = concat_bf16_pairs(h0, h1);
    lo = concat_bf16_pairs(round_to_bf16(hn::Sub(x0, h0)), round_to_bf16(hn::Sub(x1, h1)));
}

}  // namespace encore::cpu
