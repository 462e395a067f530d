// The batched lane sum every matmul output goes through: each vector is reduced with one fixed
// tree, whatever its slot in the batch, the batch size and the other vectors (this is what makes a
// dot product's result independent of the tile it was computed in).
#include "backend/cpu/simd.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace encore::cpu
