// Precision::fast of the CPU matmul: on bf16 weights, x rounded to one bf16 (one bf16-pair product
// per weight pair). Checked against the scalar reference run on x rounded the same way (then only
// f32 rounding separates them), for odd shapes, with and without bias; bitwise batch-invariant
// like the default (rows alone, in groups, row and column splits, decode of large weights, fused
// matmuls, 1 or 2 threads); other weight dtypes compute bitwise what the default computes.
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

// Each value rounded to the nearest bf16: what Precision::fast multiplies bf16 weights with.
std::vector<float> to_bf16(std::vector<float> x) {
    for (auto& v : x) v = bf16_to_f32(f32_to_bf16(v));
    return x;
}

class MatmulFastTest : public test::BackendFixture {
  protected:
    std::unique_ptr<Backend> fast1 = make_cpu_backend(pool1, Precision::fast);
    std::unique_ptr<Backend> fast2 = make_cpu_backend(pool2, Precision::fast);
};

TEST_F(MatmulFastTest, MatchesScalarOnXRoundedToBf16) {
    std::mt19937 rng(21);
    for (int64_t k : {1, 17, 32, 688, 2048 + 16}) {
        for (int64_t m : {1, 13, 67}) {
            const test::Weights w = random_weights(rng, DType::bf16, m, k);
            const test::Weights bias = random_weights(rng, DType::f32, 1, m);
            const std::vector<float> w_abs = test::abs_rows(w.view);  // [m, k]
            const TensorView wa = make_view(w_abs.data(), DType::f32, {m, k});
            for (int64_t n : {1, 3, 17, 128}) {
                SCOPED_TRACE(testing::Message() << "n=" << n << " m=" << m << " k=" << k);
                const std::vector<float> x = random_floats(rng, n * k);
                const std::vector<float> xr = to_bf16(x);
                std::vector<float> xr_abs = xr;
                for (auto& v : xr_abs) v = std::fabs(v);
                for (const TensorView* b : {static_cast<const TensorView*>(nullptr), &bias.view}) {
                    std::vector<float> ref(size_t(n * m)), out(size_t(n * m), NAN);
                    std::vector<float> mag(size_t(n * m)), out_rounded(size_t(n * m), NAN);
                    scalar->matmul(xr.data(), n, w.view, b, ref.data());
                    scalar->matmul(xr_abs.data(), n, wa, nullptr, mag.data());
                    fast2->matmul(x.data(), n, w.view, b, out.data());
                    EXPECT_LT(test::error_vs_magnitude(out, ref, mag), 1e-6);
                    // Rounding is idempotent: x and bf16(x) give the same bits.
                    fast2->matmul(xr.data(), n, w.view, b, out_rounded.data());
                    EXPECT_TRUE(test::bitwise_equal(out.data(), out_rounded.data(), out.size()));
                }
            }
        }
    }
}

// Not the same as the default on x with more than 8 significant bits, and within what one bf16
// of x allows: 2^-9 of the sum of |terms|.
TEST_F(MatmulFastTest, DiffersFromDefaultWithinTheRoundingOfX) {
    std::mt19937 rng(22);
    const int64_t n = 9, m = 70, k = 688;
    const test::Weights w = random_weights(rng, DType::bf16, m, k);
    const std::vector<float> x = random_floats(rng, n * k);
    std::vector<float> x_abs = x;
    for (auto& v : x_abs) v = std::fabs(v);
    const std::vector<float> w_abs = test::abs_rows(w.view);
    const TensorView wa = make_view(w_abs.data(), DType::f32, {m, k});
    std::vector<float> ref(size_t(n * m)), mag(size_t(n * m)), standard(size_t(n * m)),
        fast(size_t(n * m));
    scalar->matmul(x.data(), n, w.view, nullptr, ref.data());
    scalar->matmul(x_abs.data(), n, wa, nullptr, mag.data());
    cpu2->matmul(x.data(), n, w.view, nullptr, standard.data());
    fast2->matmul(x.data(), n, w.view, nullptr, fast.data());
    EXPECT_FALSE(test::bitwise_equal(standard.data(), fast.data(), fast.size()));
    EXPECT_LT(test::error_vs_magnitude(fast, ref, mag), 1.0 / 512 + 1e-6);
    EXPECT_GT(test::error_vs_magnitude(fast, ref, mag), test::k_bf16_x_precision);
}

TEST_F(MatmulFastTest, OtherDtypesComputeWhatTheDefaultComputes) {
    std::mt19937 rng(23);
    for (DType t : {DType::f32, DType::f16, DType::q8_0, DType::q4_0}) {
        for (int64_t n : {1, 5, 40}) {
            SCOPED_TRACE(testing::Message() << dtype_name(t) << " n=" << n);
            const int64_t m = 77, k = 672;
            const test::Weights w = random_weights(rng, t, m, k);
            const std::vector<float> x = random_floats(rng, n * k);
            std::vector<float> a(size_t(n * m)), b(size_t(n * m));
            cpu2->matmul(x.data(), n, w.view, nullptr, a.data());
            fast2->matmul(x.data(), n, w.view, nullptr, b.data());
            EXPECT_TRUE(test::bitwise_equal(a.data(), b.data(), a.size()));
        }
    }
}

// Every row alone, in uneven groups, all at once, on 1 and on 2 threads; small weights (rows
// shared out among threads) and large ones (columns shared out): bitwise equal.
TEST_F(MatmulFastTest, BitwiseInvariantToBatchCompositionSplitsAndThreads) {
    std::mt19937 rng(24);
    for (int64_t k : {int64_t(672), int64_t(2080)}) {
        for (int64_t m : {int64_t(96), int64_t(301), int64_t(1200)}) {
            const int64_t n = 37;
            SCOPED_TRACE(testing::Message() << "k=" << k << " m=" << m);
            const test::Weights w = random_weights(rng, DType::bf16, m, k);
            const test::Weights bias = random_weights(rng, DType::f32, 1, m);
            const std::vector<float> x = random_floats(rng, n * k);
            std::vector<float> all(size_t(n * m)), one(size_t(n * m)), grouped(size_t(n * m)),
                single_thread(size_t(n * m));
            fast2->matmul(x.data(), n, w.view, &bias.view, all.data());
            for (int64_t i = 0; i < n; ++i)
                fast1->matmul(x.data() + i * k, 1, w.view, &bias.view, one.data() + i * m);
            EXPECT_TRUE(test::bitwise_equal(all.data(), one.data(), all.size()));
            int64_t i = 0;
            for (int64_t g : {2, 5, 1, 7, 3, 4, 6, 9}) {
                g = std::min(g, n - i);
                fast2->matmul(x.data() + i * k, g, w.view, &bias.view, grouped.data() + i * m);
                i += g;
            }
            ASSERT_EQ(i, n);
            EXPECT_TRUE(test::bitwise_equal(all.data(), grouped.data(), all.size()));
            fast1->matmul(x.data(), n, w.view, &bias.view, single_thread.data());
            EXPECT_TRUE(test::bitwise_equal(all.data(), single_thread.data(), all.size()));
        }
    }
}

// Decode (one row) of weights far larger than a work unit on 2 threads (the assembly loop where
// the CPU has AVX512-BF16): bitwise what 1 thread gives and what the row gives inside a prefill.
TEST_F(MatmulFastTest, DecodeOfLargeWeightsOnTwoThreads) {
    std::mt19937 rng(25);
    const int64_t k = 2048, n = 7;
    for (int64_t m : {int64_t(4093), int64_t(1531)}) {
        SCOPED_TRACE(testing::Message() << "m=" << m);
        const test::Weights w = random_weights(rng, DType::bf16, m, k, 0.05f);
        const std::vector<float> x = random_floats(rng, n * k);
        std::vector<float> batch(size_t(n * m));
        std::vector<float> two(static_cast<size_t>(m)), one(two), ref(two);
        fast2->matmul(x.data(), n, w.view, nullptr, batch.data());
        const float* last = x.data() + (n - 1) * k;
        fast2->matmul(last, 1, w.view, nullptr, two.data());
        fast1->matmul(last, 1, w.view, nullptr, one.data());
        const std::vector<float> last_rounded = to_bf16(std::vector<float>(last, last + k));
        scalar->matmul(last_rounded.data(), 1, w.view, nullptr, ref.data());
        EXPECT_TRUE(test::bitwise_equal(two.data(), one.data(), two.size()));
        EXPECT_TRUE(test::bitwise_equal(two.data(), batch.data() + (n - 1) * m, two.size()));
        EXPECT_LT(test::rel_error(two, ref), 1e-6);
    }
}

// Fused matmuls (q/k/v, gate/up), with mixed dtypes (the plain and the one-bf16 packing of x in
// one call): each output bitwise what a separate call gives.
TEST_F(MatmulFastTest, SeveralWeightsMatchSeparateCallsBitwise) {
    std::mt19937 rng(26);
    test::expect_matmuls_match_separate_calls(rng, 672, {fast1.get(), fast2.get()});
}

TEST(Precision, ParsesItsNames) {
    EXPECT_EQ(parse_precision("default"), Precision::standard);
    EXPECT_EQ(parse_precision("fast"), Precision::fast);
    EXPECT_STREQ(precision_name(Precision::fast), "fast");
    EXPECT_STREQ(precision_name(Precision::standard), "default");
    EXPECT_THROW(parse_precision("fastest"), Error);
}

}  // namespace
}  // namespace encore
