// The SwiGLU activation, silu(gate) * up = gate / (1 + e^-gate) * up in f32, as every kernel that
// computes it does (launch_silu_mul, the GEMV's SwiGLU epilogue): one expression, so that they
// give the same bits.
#pragma once

#include <cmath>

namespace encore::cuda {

__device__ __forceinline__ float silu_mul_value(float gate, float up) {
    return gate / (1.0f + expf(-gate)) * up;
}

}  // namespace encore::cuda
