// The decode inner loop of bf16 weights on x86 with AVX512-BF16, written out in assembly: one x
// row (n = 1) against a tile of 8 W rows, each step two `vdpbf16ps` per W row (x's hi part, then
// its lo part; see matmul.h), the W line read as the instruction's memory operand. It computes
// exactly what the generic tile of matmul_tile.h computes, in the same order, so results are
// bitwise the same; only the instructions differ:
// - the 8 row addresses come from two moving pointers and the row stride through x86 addressing
//   modes, where GCC's code for the generic tile spends 8 instructions a step on addresses and
//   loop state;
// - each row's line 512 bytes ahead is prefetched every step, and over a row's last 8 steps the
//   first lines of the next tile's rows, so a tile starts with its lines already on the way.
//   The hardware prefetchers alone leave 8 streams of 4 KiB rows short of lines in flight.
// On the 2-core EPYC VM of bench/KERNELS.md, in a loop over the matrices of one Llama-3.2-1B
// token, the library's decode went from 80-86% of a read pass over the same bytes to 97-102%.
// With x rounded to one bf16 (Precision::fast), a step is one `vdpbf16ps` per W row, with x's
// one part (64 bytes a step): decode_bf16x8_steps_single.
#pragma once

#include <cstdint>

#include "backend/cpu/simd.h"

namespace encore::cpu {

#if HWY_TARGET <= HWY_AVX3 && HWY_ARCH_X86_64 && defined(__AVX512BF16__) && \
    (defined(__GNUC__) || defined(__clang__))
constexpr bool k_has_decode_bf16x8 = true;

// The 8 row addresses of one step from two pointers, as operands of `op`: (p), (p + rb),
// (p + 2 rb), (p + 3 rb), (p + 4 rb), (q = p + 5 rb), (p + 6 rb), (q + 2 rb).
// clang-format off
#define ENCORE_ROWS8(op, p, q)                                             \
    op " (%[" p "])\n\t"         op " (%[" p "],%[rb],1)\n\t"             \
    op " (%[" p "],%[rb],2)\n\t" op " (%[" p "],%[rb3],1)\n\t"            \
    op " (%[" p "],%[rb],4)\n\t" op " (%[" q "])\n\t"                     \
    op " (%[" p "],%[rb3],2)\n\t" op " (%[" q "],%[rb],2)\n\t"
// clang-format on

// acc[c] += the bf16-pair dot products of W row c (at w + c * row_bytes, 64 bytes a step) with x
// (128 bytes a step: 16 floats of hi pairs, then 16 of lo pairs), over the steps from x to x_end,
// while prefetching, for each row c, the line at pf + c * row_bytes + 64 * (steps done).
// x_end - x is a positive multiple of 32 floats.
HWY_INLINE void decode_bf16x8_steps(VF (&acc)[8], const float* x, const float* x_end,
                                    const uint8_t* w, const uint8_t* pf, int64_t row_bytes) {
    const uint8_t* p = w;                  // row 0; rows 1-4 and 6 from p and the stride
    const uint8_t* q = w + 5 * row_bytes;  // row 5; row 7 is q + 2 rb
    const uint8_t* pp = pf;                // the same pattern for the prefetched lines
    const uint8_t* pq = pf + 5 * row_bytes;
    const int64_t rb = row_bytes, rb3 = 3 * row_bytes;
    asm("1:\n\t" ENCORE_ROWS8("prefetcht0", "pp", "pq")
        "vmovaps (%[x]), %%zmm30\n\t"
        "vmovaps 64(%[x]), %%zmm31\n\t"
        "vdpbf16ps (%[p]), %%zmm30, %[a0]\n\t"
        "vdpbf16ps (%[p],%[rb],1), %%zmm30, %[a1]\n\t"
        "vdpbf16ps (%[p],%[rb],2), %%zmm30, %[a2]\n\t"
        "vdpbf16ps (%[p],%[rb3],1), %%zmm30, %[a3]\n\t"
        "vdpbf16ps (%[p],%[rb],4), %%zmm30, %[a4]\n\t"
        "vdpbf16ps (%[q]), %%zmm30, %[a5]\n\t"
        "vdpbf16ps (%[p],%[rb3],2), %%zmm30, %[a6]\n\t"
        "vdpbf16ps (%[q],%[rb],2), %%zmm30, %[a7]\n\t"
        "vdpbf16ps (%[p]), %%zmm31, %[a0]\n\t"
        "vdpbf16ps (%[p],%[rb],1), %%zmm31, %[a1]\n\t"
        "vdpbf16ps (%[p],%[rb],2), %%zmm31, %[a2]\n\t"
        "vdpbf16ps (%[p],%[rb3],1), %%zmm31, %[a3]\n\t"
        "vdpbf16ps (%[p],%[rb],4), %%zmm31, %[a4]\n\t"
        "vdpbf16ps (%[q]), %%zmm31, %[a5]\n\t"
        "vdpbf16ps (%[p],%[rb3],2), %%zmm31, %[a6]\n\t"
        "vdpbf16ps (%[q],%[rb],2), %%zmm31, %[a7]\n\t"
        "add $64, %[p]\n\t"
        "add $64, %[q]\n\t"
        "add $64, %[pp]\n\t"
        "add $64, %[pq]\n\t"
        "add $128, %[x]\n\t"
        "cmp %[x_end], %[x]\n\t"
        "jne 1b\n\t"
        : [a0] "+v"(acc[0].raw), [a1] "+v"(acc[1].raw), [a2] "+v"(acc[2].raw),
          [a3] "+v"(acc[3].raw), [a4] "+v"(acc[4].raw), [a5] "+v"(acc[5].raw),
          [a6] "+v"(acc[6].raw), [a7] "+v"(acc[7].raw), [p] "+r"(p), [q] "+r"(q), [pp] "+r"(pp),
          [pq] "+r"(pq), [x] "+r"(x)
        : [rb] "r"(rb), [rb3] "r"(rb3), [x_end] "r"(x_end)
        : "zmm30", "zmm31", "memory", "cc");  // zmm30/31: x hi and lo
}

// The same with x as one bf16 part (16 floats of pairs a step): one `vdpbf16ps` per W row.
// x_end - x is a positive multiple of 16 floats.
HWY_INLINE void decode_bf16x8_steps_single(VF (&acc)[8], const float* x, const float* x_end,
                                           const uint8_t* w, const uint8_t* pf, int64_t row_bytes) {
    const uint8_t* p = w;
    const uint8_t* q = w + 5 * row_bytes;
    const uint8_t* pp = pf;
    const uint8_t* pq = pf + 5 * row_bytes;
    const int64_t rb = row_bytes, rb3 = 3 * row_bytes;
    asm("1:\n\t" ENCORE_ROWS8("prefetcht0", "pp", "pq")
        "vmovaps (%[x]), %%zmm30\n\t"
        "vdpbf16ps (%[p]), %%zmm30, %[a0]\n\t"
        "vdpbf16ps (%[p],%[rb],1), %%zmm30, %[a1]\n\t"
        "vdpbf16ps (%[p],%[rb],2), %%zmm30, %[a2]\n\t"
        "vdpbf16ps (%[p],%[rb3],1), %%zmm30, %[a3]\n\t"
        "vdpbf16ps (%[p],%[rb],4), %%zmm30, %[a4]\n\t"
        "vdpbf16ps (%[q]), %%zmm30, %[a5]\n\t"
        "vdpbf16ps (%[p],%[rb3],2), %%zmm30, %[a6]\n\t"
        "vdpbf16ps (%[q],%[rb],2), %%zmm30, %[a7]\n\t"
        "add $64, %[p]\n\t"
        "add $64, %[q]\n\t"
        "add $64, %[pp]\n\t"
        "add $64, %[pq]\n\t"
        "add $64, %[x]\n\t"
        "cmp %[x_end], %[x]\n\t"
        "jne 1b\n\t"
        : [a0] "+v"(acc[0].raw), [a1] "+v"(acc[1].raw), [a2] "+v"(acc[2].raw),
          [a3] "+v"(acc[3].raw), [a4] "+v"(acc[4].raw), [a5] "+v"(acc[5].raw),
          [a6] "+v"(acc[6].raw), [a7] "+v"(acc[7].raw), [p] "+r"(p), [q] "+r"(q), [pp] "+r"(pp),
          [pq] "+r"(pq), [x] "+r"(x)
        : [rb] "r"(rb), [rb3] "r"(rb3), [x_end] "r"(x_end)
        : "zmm30", "memory", "cc");  // zmm30: x
}

// The steps of x from x to x_end (n_steps of them) against 8 W rows from w, each row's lines
// prefetched `Ahead` bytes before they are read; over the last steps of a row, the first lines
// of the next tile's rows (w + 8 row_bytes) are prefetched instead. `Halves`: 2 for x as hi and
// lo parts (32 floats a step), 1 for x as one part (16 floats a step).
template <int Ahead = 512, int Halves = 2>
HWY_INLINE void decode_bf16x8(VF (&acc)[8], const float* x, const float* x_end, const uint8_t* w,
                              int64_t row_bytes) {
    constexpr int64_t x_step = 16 * Halves;
    const auto steps = [&](const float* from, const float* to, const uint8_t* wf,
                           const uint8_t* pf) {
        if constexpr (Halves == 1) {
            decode_bf16x8_steps_single(acc, from, to, wf, pf, row_bytes);
        } else {
            decode_bf16x8_steps(acc, from, to, wf, pf, row_bytes);
        }
    };
    const int64_t n_steps = (x_end - x) / x_step;
    const int64_t ahead_steps = Ahead / 64;
    const int64_t main_steps = n_steps > ahead_steps ? n_steps - ahead_steps : 0;
    if (main_steps > 0) steps(x, x + main_steps * x_step, w, w + Ahead);
    if (main_steps < n_steps) {
        const uint8_t* wm = w + main_steps * 64;
        steps(x + main_steps * x_step, x_end, wm,
              w + 8 * row_bytes + (main_steps + ahead_steps - n_steps) * 64);
    }
}
#undef ENCORE_ROWS8
#else
constexpr bool k_has_decode_bf16x8 = false;

template <int Ahead = 512, int Halves = 2>
inline void decode_bf16x8(VF (&)[8], const float*, const float*, const uint8_t*, int64_t) {}
#endif

}  // namespace encore::cpu
