// Element-type conversions against the processor's own F16C conversions and exact identities.
#include "core/dtype.h"

#include <gtest/gtest.h>
#include <immintrin.h>

#include <cmath>
#include <random>
#include <vector>

namespace encore {
namespace {

TEST(DType, F16ToF32MatchesHardwareForEveryValue) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float ours = f16_to_f32(uint16_t(h));
        const float hw = _cvtsh_ss(uint16_t(h));
        if (std::isnan(hw)) {
            EXPECT_TRUE(std::isnan(ours)) << h;
        } else {
            EXPECT_EQ(std::memcmp(&ours, &hw, 4), 0) << h;
        }
    }
}

TEST(DType, F32ToF16MatchesHardwareRoundNearestEven) {
    std::mt19937 rng(1);
    std::uniform_int_distribution<uint32_t> bits;
    for (int i = 0; i < 2000000; ++i) {
        uint32_t b = bits(rng);
        float f;
        std::memcpy(&f, &b, 4);
        if (std::isnan(f)) continue;
        EXPECT_EQ(f32_to_f16(f), _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT)) << f;
    }
}

TEST(DType, Bf16RoundTripAndRounding) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = bf16_to_f32(uint16_t(h));
        if (!std::isnan(f)) {
            EXPECT_EQ(f32_to_bf16(f), h);
        }
    }
    EXPECT_EQ(f32_to_bf16(1.0f + 1.0f / 256), 0x3f80);  // tie: to even
    EXPECT_EQ(f32_to_bf16(1.0f + 3.0f / 256), 0x3f82);  // tie: to even (up)
}

TEST(DType, QuantizedRoundTripIsClose) {
    std::mt19937 rng(2);
    std::normal_distribution<float> normal;
    std::vector<float> x(256), y(256);
    for (auto& v : x) v = normal(rng);
    for (DType t : {DType::q8_0, DType::q4_0}) {
        std::vector<uint8_t> q(size_t(dtype_row_bytes(t, 256)));
        quantize_row(t, x.data(), q.data(), 256);
        dequantize_row(t, q.data(), y.data(), 256);
        const float tol = t == DType::q8_0 ? 0.02f : 0.35f;
        for (int i = 0; i < 256; ++i) EXPECT_NEAR(x[i], y[i], tol) << dtype_name(t) << " " << i;
    }
}

}  // namespace
}  // namespace encore
