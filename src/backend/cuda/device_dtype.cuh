// Device-side reads of the stored element types (core/dtype.h): one element of a weight tensor
// as f32, whatever its dtype, with the same values as the scalar conversions of core/dtype.h;
// and writes of f32 values into 16-bit copies (the matmuls' inputs), rounded to nearest even.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "core/dtype.h"

namespace encore::cuda {

__device__ __forceinline__ float bf16_bits_to_f32(uint16_t h) {
    return __uint_as_float(uint32_t(h) << 16);
}

__device__ __forceinline__ float f16_bits_to_f32(uint16_t h) {
    return __half2float(__ushort_as_half(h));
}

// Element `i` of a tensor of `dtype` starting at `base` (rows of quantized tensors must start
// on a block boundary, which every row of k a multiple of 32 does).
__device__ __forceinline__ float load_element(const void* base, DType dtype, int64_t i) {
    switch (dtype) {
        case DType::f32:
            return static_cast<const float*>(base)[i];
        case DType::f16:
            return f16_bits_to_f32(static_cast<const uint16_t*>(base)[i]);
        case DType::bf16:
            return bf16_bits_to_f32(static_cast<const uint16_t*>(base)[i]);
        case DType::q8_0: {
            const uint8_t* b = static_cast<const uint8_t*>(base) + (i / 32) * 34;
            const uint16_t d = uint16_t(b[0] | (b[1] << 8));
            return float(int8_t(b[2 + i % 32])) * f16_bits_to_f32(d);
        }
        case DType::q4_0: {
            const uint8_t* b = static_cast<const uint8_t*>(base) + (i / 32) * 18;
            const uint16_t d = uint16_t(b[0] | (b[1] << 8));
            const int j = int(i % 32);
            const int nib = j < 16 ? (b[2 + j] & 0x0f) : (b[2 + j - 16] >> 4);
            return float(nib - 8) * f16_bits_to_f32(d);
        }
        default:
            return 0.0f;
    }
}

// Stores v as element i of a 16-bit array of type t16 (f16 or bf16).
__device__ __forceinline__ void store16(void* out16, DType t16, int64_t i, float v) {
    if (t16 == DType::bf16)
        static_cast<__nv_bfloat16*>(out16)[i] = __float2bfloat16_rn(v);
    else
        static_cast<__half*>(out16)[i] = __float2half_rn(v);
}

// Stores a and b as elements i and i + 1 (i even) in one 4-byte store.
__device__ __forceinline__ void store16x2(void* out16, DType t16, int64_t i, float a, float b) {
    if (t16 == DType::bf16)
        *reinterpret_cast<__nv_bfloat162*>(static_cast<__nv_bfloat16*>(out16) + i) =
            __floats2bfloat162_rn(a, b);
    else
        *reinterpret_cast<__half2*>(static_cast<__half*>(out16) + i) = __floats2half2_rn(a, b);
}

}  // namespace encore::cuda
