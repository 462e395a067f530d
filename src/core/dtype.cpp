// Scalar reference conversions between element types (see dtype.h).
#include "core/dtype.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace encore {

std::string_view dtype_name(DType type) {
    switch (type) {
        case DType::f32: return "f32";
        case DType::f16: return "f16";
        case DType::bf16: return "bf16";
        case DType::q8_0: return "q8_0";
        case DType::q4_0: return "q4_0";
        case DType::i32: return "i32";
    }
    return "?";
}

int64_t dtype_block_elems(DType type) { return dtype_is_quantized(type) ? k_quant_block : 1; }

int64_t dtype_block_bytes(DType type) {
    switch (type) {
        case DType::f32: return 4;
        case DType::f16: return 2;
        case DType::bf16: return 2;
        case DType::q8_0: return sizeof(BlockQ8_0);
        case DType::q4_0: return sizeof(BlockQ4_0);
        case DType::i32: return 4;
    }
    return 0;
}

bool dtype_is_quantized(DType type) { return type == DType::q8_0 || type == DType::q4_0; }

int64_t dtype_row_bytes(DType type, int64_t n_elems) {
    const int64_t block = dtype_block_elems(type);
    if (n_elems % block != 0)
        fail(ErrorKind::invalid_argument, "{} elements is not a multiple of the {} block size {}",
             n_elems, dtype_name(type), block);
    return n_elems / block * dtype_block_bytes(type);
}

float f16_to_f32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: normalize
            exp = 127 - 15 + 1;
            while ((mant & 0x400u) == 0) {
                mant <<= 1;
                --exp;
            }
            mant &= 0x3ffu;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

uint16_t f32_to_f16(float f) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    const uint16_t sign = uint16_t((bits >> 16) & 0x8000u);
    const uint32_t abs = bits & 0x7fffffffu;
    if (abs > 0x7f800000u) return sign | 0x7e00u;  // NaN
    if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: inf
    if (abs < 0x38800000u) {                        // below the smallest normal f16: subnormal
        if (abs < 0x33000000u) return sign;         // below half the smallest subnormal
        const uint32_t exp = abs >> 23;
        const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
        const uint32_t shift = 126 - exp;  // value = m * 2^-24 with m = mant >> shift
        const uint32_t shifted = mant >> shift;
        const uint32_t rem = mant & ((1u << shift) - 1);
        const uint32_t half = 1u << (shift - 1);
        uint32_t result = shifted;
        if (rem > half || (rem == half && (shifted & 1u))) ++result;
        return sign | uint16_t(result);
    }
    uint32_t result = ((abs >> 13) - ((127 - 15) << 10));
    const uint32_t rem = abs & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (result & 1u))) ++result;
    return sign | uint16_t(result);
}

void dequantize_row(DType type, const void* src, float* dst, int64_t n) {
    switch (type) {
        case DType::f32: std::memcpy(dst, src, size_t(n) * 4); return;
        case DType::f16: {
            const auto* s = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
            return;
        }
        case DType::bf16: {
            const auto* s = static_cast<const uint16_t*>(src);
            for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
            return;
        }
        case DType::q8_0: {
            const auto* blocks = static_cast<const BlockQ8_0*>(src);
            for (int64_t b = 0; b < n / k_quant_block; ++b) {
                const float d = f16_to_f32(blocks[b].d);
                for (int i = 0; i < k_quant_block; ++i)
                    dst[b * k_quant_block + i] = float(blocks[b].qs[i]) * d;
            }
            return;
        }
        case DType::q4_0: {
            const auto* blocks = static_cast<const BlockQ4_0*>(src);
            for (int64_t b = 0; b < n / k_quant_block; ++b) {
                const float d = f16_to_f32(blocks[b].d);
                for (int i = 0; i < 16; ++i) {
                    dst[b * k_quant_block + i] = float(int(blocks[b].qs[i] & 0x0f) - 8) * d;
                    dst[b * k_quant_block + i + 16] = float(int(blocks[b].qs[i] >> 4) - 8) * d;
                }
            }
            return;
        }
        case DType::i32: break;
    }
    fail(ErrorKind::unsupported, "cannot convert {} to f32", dtype_name(type));
}

void quantize_row(DType type, const float* src, void* dst, int64_t n) {
    switch (type) {
        case DType::f32: std::memcpy(dst, src, size_t(n) * 4); return;
        case DType::f16: {
            auto* d = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
            return;
        }
        case DType::bf16: {
            auto* d = static_cast<uint16_t*>(dst);
            for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
            return;
        }
        case DType::q8_0: {
            dtype_row_bytes(type, n);
            auto* blocks = static_cast<BlockQ8_0*>(dst);
            for (int64_t b = 0; b < n / k_quant_block; ++b) {
                const float* x = src + b * k_quant_block;
                float amax = 0.0f;
                for (int i = 0; i < k_quant_block; ++i) amax = std::max(amax, std::fabs(x[i]));
                const float d = amax / 127.0f;
                const float id = d != 0.0f ? 1.0f / d : 0.0f;
                blocks[b].d = f32_to_f16(d);
                for (int i = 0; i < k_quant_block; ++i)
                    blocks[b].qs[i] = int8_t(std::roundf(x[i] * id));
            }
            return;
        }
        case DType::q4_0: {
            dtype_row_bytes(type, n);
            auto* blocks = static_cast<BlockQ4_0*>(dst);
            for (int64_t b = 0; b < n / k_quant_block; ++b) {
                const float* x = src + b * k_quant_block;
                float amax = 0.0f, max = 0.0f;  // the value of largest magnitude, with its sign
                for (int i = 0; i < k_quant_block; ++i) {
                    if (std::fabs(x[i]) > amax) {
                        amax = std::fabs(x[i]);
                        max = x[i];
                    }
                }
                const float d = max / -8.0f;
                const float id = d != 0.0f ? 1.0f / d : 0.0f;
                blocks[b].d = f32_to_f16(d);
                for (int i = 0; i < 16; ++i) {
                    const uint8_t lo = uint8_t(std::min(15, int(int8_t(x[i] * id + 8.5f))));
                    const uint8_t hi = uint8_t(std::min(15, int(int8_t(x[i + 16] * id + 8.5f))));
                    blocks[b].qs[i] = uint8_t(lo | (hi << 4));
                }
            }
            return;
        }
        case DType::i32: break;
    }
    fail(ErrorKind::unsupported, "cannot convert f32 to {}", dtype_name(type));
}

}  // namespace encore
