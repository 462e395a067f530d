// The batched lane sum every matmul output goes through: each vector is reduced with one fixed
// tree, whatever its slot in the batch, the batch size and the other vectors (this is what makes a
// dot product's result independent of the tile it was computed in). And the bf16-pair arithmetic
// of the bf16 matmuls: x's split into two bf16 parts, and the pair dot product, against their
// documented definitions computed one element at a time.
#include "backend/cpu/simd.h"

#include "core/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace encore::cpu {
namespace {

// The tree on n lanes: lane i with i + n/2, then with i + n/4, ... (sum_lanes' documented order).
float tree_sum(std::vector<float> x) {
    for (size_t half = x.size() / 2; half >= 1; half /= 2)
        for (size_t i = 0; i < half; ++i) x[i] = x[i] + x[i + half];
    return x[0];
}

TEST(SumLanes, SameTreeInEverySlotAndBatchSize) {
    const DF df;
    const int nl = int(hn::Lanes(df));
    std::mt19937 rng(51);
    std::normal_distribution<float> normal;
    std::vector<float> data(size_t(k_sum_lanes_max * nl));
    for (int trial = 0; trial < 200; ++trial) {
        for (auto& v : data) v = normal(rng) * (trial % 3 == 0 ? 1e6f : 1.0f);
        VF in[k_sum_lanes_max];
        for (int v = 0; v < k_sum_lanes_max; ++v) in[v] = hn::LoadU(df, data.data() + v * nl);
        float all[k_sum_lanes_max];
        sum_lanes(in, k_sum_lanes_max, all);
        float as_vector[k_sum_lanes_max];
        hn::StoreU(sum_lanes_vector(in), df, as_vector);
        EXPECT_EQ(std::memcmp(as_vector, all, sizeof(all)), 0);
        for (int v = 0; v < k_sum_lanes_max; ++v) {
            // Alone, and in slot 0 of a smaller batch, it gives the same bits.
            float alone;
            sum_lanes(&in[v], 1, &alone);
            EXPECT_EQ(std::memcmp(&alone, &all[v], 4), 0) << v;
            if (nl == 16) {
                const std::vector<float> lanes(data.begin() + v * nl, data.begin() + (v + 1) * nl);
                const float ref = tree_sum(lanes);
                EXPECT_EQ(std::memcmp(&ref, &all[v], 4), 0) << v;
            }
        }
    }
}

TEST(Bf16Pairs, SplitIsTwoRoundedParts) {
    const DF df;
    const int64_t nl = int64_t(hn::Lanes(df));
    std::mt19937 rng(52);
    std::normal_distribution<float> normal;
    std::vector<float> x(size_t(2 * nl));
    std::vector<uint16_t> hi(size_t(2 * nl)), lo(size_t(2 * nl));
    for (int trial = 0; trial < 500; ++trial) {
        for (auto& v : x) v = normal(rng) * std::ldexp(1.0f, int(rng() % 40) - 20);
        x[0] = 1.0f + 1.0f / 256;  // a tie: to even
        VF vh, vl;
        split_bf16(hn::LoadU(df, x.data()), hn::LoadU(df, x.data() + nl), vh, vl);
        hn::StoreU(vh, df, reinterpret_cast<float*>(hi.data()));
        hn::StoreU(vl, df, reinterpret_cast<float*>(lo.data()));
        for (size_t i = 0; i < x.size(); ++i) {
            const uint16_t h = f32_to_bf16(x[i]);
            ASSERT_EQ(hi[i], h) << x[i];
            ASSERT_EQ(lo[i], f32_to_bf16(x[i] - bf16_to_f32(h))) << x[i];
            const double err = std::fabs(double(x[i]) - bf16_to_f32(hi[i]) - bf16_to_f32(lo[i]));
            EXPECT_LE(err, std::fabs(double(x[i])) / 65536) << x[i];
        }
    }
}

// Both ways (the instruction where the target has it, and the FMAs), bit for bit.
TEST(Bf16Pairs, DotIsOddThenEvenProductAdded) {
    const DF df;
    const int64_t nl = int64_t(hn::Lanes(df));
    std::mt19937 rng(53);
    std::normal_distribution<float> normal;
    std::vector<uint16_t> w(size_t(2 * nl)), x(size_t(2 * nl));
    std::vector<float> acc(static_cast<size_t>(nl)), out(static_cast<size_t>(nl));
    for (int trial = 0; trial < 500; ++trial) {
        for (size_t i = 0; i < w.size(); ++i) {
            w[i] = f32_to_bf16(normal(rng) * std::ldexp(1.0f, int(rng() % 20) - 10));
            x[i] = f32_to_bf16(normal(rng));
        }
        for (auto& v : acc) v = normal(rng) * std::ldexp(1.0f, int(rng() % 20) - 10);
        const VF va = hn::LoadU(df, acc.data());
        const VF vw = hn::LoadU(df, reinterpret_cast<const float*>(w.data()));
        const VF vx = hn::LoadU(df, reinterpret_cast<const float*>(x.data()));
        for (const VF r : {dot_bf16_pairs(va, vw, vx), dot_bf16_pairs_fma(va, vw, vx)}) {
            hn::StoreU(r, df, out.data());
            for (size_t i = 0; i < acc.size(); ++i) {
                const float odd =
                    std::fma(bf16_to_f32(w[2 * i + 1]), bf16_to_f32(x[2 * i + 1]), acc[i]);
                ASSERT_EQ(out[i], std::fma(bf16_to_f32(w[2 * i]), bf16_to_f32(x[2 * i]), odd)) << i;
            }
        }
    }
}

}  // namespace
}  // namespace encore::cpu
