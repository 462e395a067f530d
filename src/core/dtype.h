// Element types of tensors and the scalar conversions between them. Weights stay in their stored
// type (f32, f16, bf16, or the llama.cpp block-quantized q8_0 / q4_0) and are converted to f32
// inside kernels; this file holds the reference (scalar) conversions every kernel must agree with,
// and the block layouts of the quantized types, bit-compatible with GGUF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace encore {

enum class DType : uint8_t { f32, f16, bf16, q8_0, q4_0, i32 };

constexpr int k_quant_block = 32;  // elements per q8_0 / q4_0 block

struct BlockQ8_0 {
    uint16_t d;       // f16 scale
    int8_t qs[32];    // value = qs[i] * d
};
static_assert(sizeof(BlockQ8_0) == 34);

struct BlockQ4_0 {
    uint16_t d;       // f16 scale
    uint8_t qs[16];   // element i (i < 16) in the low nibble of qs[i], element i+16 in the high
};                    // nibble; value = (nibble - 8) * d
static_assert(sizeof(BlockQ4_0) == 18);

std::string_view dtype_name(DType type);
// Elements per storage block: 1 for plain types, 32 for quantized ones.
int64_t dtype_block_elems(DType type);
// Bytes per storage block.
int64_t dtype_block_bytes(DType type);
// Bytes of `n_elems` elements; n_elems must be a multiple of the block size.
int64_t dtype_row_bytes(DType type, int64_t n_elems);
bool dtype_is_quantized(DType type);

inline float bf16_to_f32(uint16_t h) {
    uint32_t bits = uint32_t(h) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Round to nearest even, NaN kept quiet (as torch does).
inline uint16_t f32_to_bf16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return uint16_t(bits >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);  // round to nearest even, overflow to inf

// Converts one row of `n` elements of type `type` at `src` to f32 at `dst`.
void dequantize_row(DType type, const void* src, float* dst, int64_t n);
// Converts f32 to a stored type (used by `encore convert`); n must be a multiple of the block
// size for quantized types. Quantization follows llama.cpp's reference rounding.
void quantize_row(DType type, const float* src, void* dst, int64_t n);

}  // namespace encore
