// Device-side reads of the stored element types (core/dtype.h): one element of a weight tensor
// as f32, whatever its dtype, with the same values as the scalar conversions of core/dtype.h.
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

}  // namespace encore::cuda
