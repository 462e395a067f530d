// The row-wise and elementwise ops of the optimized backend (embed, rms_norm, rope, silu_mul, add,
// gather_rows) against the scalar reference on random data, including lengths that are not
// multiples of the vector width; an element's result must not depend on where it sits in a call.
#include <gtest/gtest.h>

#include <memory>

#include "backend/backend.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "test_util.h"

namespace encore {
namespace {

using test::random_floats;
using test::random_weights;

class ElementwiseTest : public test::BackendFixture {};

TEST_F(ElementwiseTest, EmbedIsExactForEveryDtype) {
    std::mt19937 rng(31);
    for (DType t : {DType::f32, DType::f16, DType::bf16, DType::q8_0, DType::q4_0}) {
        const int64_t vocab = 50, d = 96;
        const test::Weights table = random_weights(rng, t, vocab, d);
        const std::vector<int32_t> ids = {3, 0, 49, 3, 17, 22, 8, 8, 41};
        const int64_t n = int64_t(ids.size());
        std::vector<float> ref(size_t(n * d)), out(size_t(n * d));
        scalar->embed(table.view, ids.data(), n, ref.data());
        cpu2->embed(table.view, ids.data(), n, out.data());
        EXPECT_TRUE(test::bitwise_equal(ref.data(), out.data(), ref.size())) << dtype_name(t);
    }
}

TEST_F(ElementwiseTest, EmbedRejectsBadIdsWithoutWriting) {
    std::mt19937 rng(32);
    const test::Weights table = random_weights(rng, DType::bf16, 10, 32);
    const std::vector<int32_t> ids = {1, 2, 10};
    for (Backend* b : {scalar.get(), cpu2.get()}) {
        std::vector<float> out(3 * 32, 7.0f);
        EXPECT_THROW(b->embed(table.view, ids.data(), 3, out.data()), Error) << b->name();
        for (float v : out) ASSERT_EQ(v, 7.0f) << b->name();
        const int32_t negative = -1;
        EXPECT_THROW(b->embed(table.view, &negative, 1, out.data()), Error) << b->name();
    }
}

TEST_F(ElementwiseTest, RmsNormMatchesScalar) {
    std::mt19937 rng(33);
    for (int64_t d : {1, 17, 64, 256, 2048 + 16}) {
        for (int64_t n : {1, 5, 70}) {
            for (DType wt : {DType::f32, DType::bf16}) {
                SCOPED_TRACE(testing::Message()
                             << "d=" << d << " n=" << n << " " << dtype_name(wt));
                const test::Weights w = random_weights(rng, wt, 1, d);
                const std::vector<float> x = random_floats(rng, n * d, 3.0f);
                std::vector<float> ref(x.size()), out(x.size());
                scalar->rms_norm(x.data(), w.view, 1e-5f, n, ref.data());
                cpu2->rms_norm(x.data(), w.view, 1e-5f, n, out.data());
                EXPECT_LT(test::max_rel_error(out, ref), 1e-6);
                // In place, and each row alone: bitwise the same as the whole call.
                std::vector<float> in_place = x;
                cpu2->rms_norm(in_place.data(), w.view, 1e-5f, n, in_place.data());
                EXPECT_TRUE(test::bitwise_equal(in_place.data(), out.data(), out.size()));
                for (int64_t i = 0; i < n; ++i) {
                    std::vector<float> row(static_cast<size_t>(d));
                    cpu1->rms_norm(x.data() + i * d, w.view, 1e-5f, 1, row.data());
                    ASSERT_TRUE(test::bitwise_equal(row.data(), out.data() + i * d, size_t(d)));
                }
            }
        }
    }
}

TEST_F(ElementwiseTest, RopeMatchesScalar) {
    std::mt19937 rng(34);
    std::uniform_int_distribution<int32_t> pos_dist(0, 100000);
    for (int head_dim : {40, 64, 128}) {
        for (int n_heads : {1, 8, 32}) {
            SCOPED_TRACE(testing::Message() << "head_dim=" << head_dim << " heads=" << n_heads);
            std::vector<float> inv_freq(size_t(head_dim / 2));
            for (int i = 0; i < head_dim / 2; ++i)
                inv_freq[size_t(i)] = float(std::pow(500000.0, -2.0 * i / head_dim));
            const RopeTable table{inv_freq.data(), head_dim};
            const int64_t n = 37;
            std::vector<int32_t> positions(static_cast<size_t>(n));
            for (auto& p : positions) p = pos_dist(rng);
            positions[0] = 0;
            positions[1] = 1;
            const std::vector<float> x = random_floats(rng, n * n_heads * head_dim);
            std::vector<float> ref = x, out = x;
            scalar->rope(ref.data(), n, n_heads, positions.data(), table);
            cpu2->rope(out.data(), n, n_heads, positions.data(), table);
            EXPECT_LT(test::max_rel_error(out, ref), 1e-6);
            // Position 0 is the identity.
            EXPECT_TRUE(test::bitwise_equal(ref.data(), x.data(), size_t(n_heads * head_dim)));
            // One token at a time gives the same bits.
            std::vector<float> one = x;
            for (int64_t i = 0; i < n; ++i)
                cpu1->rope(one.data() + i * n_heads * head_dim, 1, n_heads, &positions[size_t(i)],
                           table);
            EXPECT_TRUE(test::bitwise_equal(one.data(), out.data(), out.size()));
        }
    }
}

TEST_F(ElementwiseTest, SiluMulMatchesScalarAndIgnoresOffsets) {
    std::mt19937 rng(35);
    for (int64_t n : {1, 15, 16, 17, 1000, 100003}) {
        SCOPED_TRACE(testing::Message() << "n=" << n);
        std::vector<float> gate = random_floats(rng, n, 4.0f);
        const std::vector<float> up = random_floats(rng, n);
        if (n > 10) {  // extremes: exp overflow and underflow
            gate[0] = 100.0f, gate[1] = -100.0f, gate[2] = 89.0f, gate[3] = -89.0f;
            gate[4] = 0.0f, gate[5] = -0.0f, gate[6] = 1e-30f, gate[7] = 20.0f, gate[8] = -20.0f;
        }
        std::vector<float> ref(static_cast<size_t>(n)), out(static_cast<size_t>(n));
        scalar->silu_mul(gate.data(), up.data(), n, ref.data());
        cpu2->silu_mul(gate.data(), up.data(), n, out.data());
        EXPECT_LT(test::max_rel_error(out, ref), 1e-6);
        for (int64_t i = 0; i < n; ++i)
            ASSERT_NEAR(out[size_t(i)], ref[size_t(i)], 2e-6 * std::fabs(ref[size_t(i)]) + 1e-30)
                << i << " gate " << gate[size_t(i)];
        // Any sub-range, at any offset, gives the same bits for its elements.
        for (int64_t off : {int64_t(1), int64_t(5), n / 3}) {
            if (off >= n) continue;
            std::vector<float> part(size_t(n - off));
            cpu1->silu_mul(gate.data() + off, up.data() + off, n - off, part.data());
            ASSERT_TRUE(test::bitwise_equal(part.data(), out.data() + off, part.size()));
        }
    }
}

TEST_F(ElementwiseTest, AddIsExact) {
    std::mt19937 rng(36);
    for (int64_t n : {1, 17, 4096, 70001}) {
        const std::vector<float> x = random_floats(rng, n), y = random_floats(rng, n);
        std::vector<float> ref = x, out = x;
        scalar->add(ref.data(), y.data(), n);
        cpu2->add(out.data(), y.data(), n);
        EXPECT_TRUE(test::bitwise_equal(ref.data(), out.data(), ref.size())) << n;
    }
}

TEST_F(ElementwiseTest, GatherRows) {
    std::mt19937 rng(37);
    const int64_t d = 33;
    const std::vector<float> src = random_floats(rng, 10 * d);
    const std::vector<int32_t> rows = {9, 0, 4, 4};
    std::vector<float> ref(4 * d), out(4 * d);
    scalar->gather_rows(src.data(), d, rows.data(), 4, ref.data());
    cpu2->gather_rows(src.data(), d, rows.data(), 4, out.data());
    EXPECT_TRUE(test::bitwise_equal(ref.data(), out.data(), ref.size()));
    EXPECT_TRUE(test::bitwise_equal(ref.data(), src.data() + 9 * d, size_t(d)));
    EXPECT_TRUE(test::bitwise_equal(ref.data() + 3 * d, src.data() + 4 * d, size_t(d)));
}

}  // namespace
}  // namespace encore
