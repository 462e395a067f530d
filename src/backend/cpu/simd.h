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

}  // namespace encore::cpu
