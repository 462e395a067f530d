// The scalar reference backend on small cases worked out by hand, so the oracle itself is checked
// independently of the optimized backend it judges.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "backend/backend.h"
#include "test_util.h"

namespace encore {
namespace {

TEST(ScalarBackend, MatmulWithBias) {
    auto b = make_scalar_backend();
    const float x[] = {1, 2, 3, -1, 0, 2};  // [2, 3]
    const float w[] = {1, 0, 1, 0, 1, 0};   // [2, 3]
    const float bias[] = {0.5f, -1};        // [2]
    float y[4];                             // [2, 2]
    const TensorView wv = make_view(w, DType::f32, {2, 3});
    const TensorView bv = make_view(bias, DType::f32, {2});
    b->matmul(x, 2, wv, &bv, y);
    EXPECT_EQ(y[0], 4.5f);
    EXPECT_EQ(y[1], 1.0f);
    EXPECT_EQ(y[2], 1.5f);
    EXPECT_EQ(y[3], -1.0f);
}

TEST(ScalarBackend, RmsNorm) {
    auto b = make_scalar_backend();
    const float x[] = {3, 4};  // mean of squares 12.5
    const float w[] = {1, 2};
    float y[2];
    b->rms_norm(x, make_view(w, DType::f32, {2}), 0.0f, 1, y);
    EXPECT_FLOAT_EQ(y[0], 3 / std::sqrt(12.5f));
    EXPECT_FLOAT_EQ(y[1], 8 / std::sqrt(12.5f));
}

TEST(ScalarBackend, RopeRotatesHalves) {
    auto b = make_scalar_backend();
    const float inv_freq[] = {1.0f, 0.5f};
    float x[] = {1, 2, 3, 4};  // one head of dim 4: pairs (x0, x2), (x1, x3)
    const int32_t pos = 1;
    b->rope(x, 1, 1, &pos, RopeTable{inv_freq, 4});
    EXPECT_FLOAT_EQ(x[0], 1 * std::cos(1.0f) - 3 * std::sin(1.0f));
    EXPECT_FLOAT_EQ(x[2], 3 * std::cos(1.0f) + 1 * std::sin(1.0f));
    EXPECT_FLOAT_EQ(x[1], 2 * std::cos(0.5f) - 4 * std::sin(0.5f));
    EXPECT_FLOAT_EQ(x[3], 4 * std::cos(0.5f) + 2 * std::sin(0.5f));
}

TEST(ScalarBackend, SiluMul) {
    auto b = make_scalar_backend();
    const float g[] = {0, 1, -2}, u[] = {5, 2, 3};
    float y[3];
    b->silu_mul(g, u, 3, y);
    EXPECT_EQ(y[0], 0.0f);
    EXPECT_FLOAT_EQ(y[1], 2 / (1 + std::exp(-1.0f)));
    EXPECT_FLOAT_EQ(y[2], 3 * -2 / (1 + std::exp(2.0f)));
}

// With a zero query every position gets the same weight: the output is the mean of the values.
TEST(ScalarBackend, AttentionWithZeroQueryAveragesValues) {
    std::mt19937 rng(41);
    auto b = make_scalar_backend();
    test::KvPool pool(1, 4, 2, 4, rng);
    pool.assign({3}, rng);
    const float k[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};  // [3, 1, 4]
    const float v[] = {1, 0, 0, 3, 0, 1, 0, 3, 2, 2, 3, 3};     // [3, 1, 4]
    test::Batch batch;
    for (int p = 0; p < 3; ++p) batch.add(0, p);
    b->kv_store(k, v, pool.view(0), batch.layout(pool));
    const float q[12] = {};  // [3, 1, 4]
    float out[12];
    b->attention(q, 1, pool.view(0), batch.layout(pool), out);
    const float expect[] = {1, 0, 0, 3, 0.5f, 0.5f, 0, 3, 1, 1, 1, 3};
    for (int i = 0; i < 12; ++i) EXPECT_FLOAT_EQ(out[i], expect[i]) << i;
}

}  // namespace
}  // namespace encore
