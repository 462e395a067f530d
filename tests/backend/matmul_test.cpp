// The optimized matmul against the scalar reference for every weight dtype, odd shapes, with and
// without bias; and its batch invariance: a row's result is bitwise the same whatever other rows
// share the call, however the rows are grouped into calls, and on 1 or 2 threads.
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

const DType k_weight_types[] = {DType::f32, DType::f16, DType::bf16, DType::q8_0, DType::q4_0};

// Values of k to test for a dtype: quantized types need whole 32-element blocks.
std::vector<int64_t> k_values(DType t) {
    if (dtype_is_quantized(t)) return {32, 672, 2080};
    return {1, 17, 32, 688, 2048 + 16};
}

class MatmulTest : public test::BackendFixture {};

// The optimized matmul of x [n, k] against the scalar one, with and without bias: every element
// within `x_error` + 1e-6 of the sum of |terms| (the scale of f32 rounding); with x_error 0, also
// 1e-6 relative to the whole output.
void expect_matches_scalar(Backend& scalar, Backend& cpu, const test::Weights& w,
                           const test::Weights& bias, const std::vector<float>& x, int64_t n,
                           double x_error) {
    const int64_t m = w.view.n_rows(), k = w.view.row_elems();
    const std::vector<float> w_abs = test::abs_rows(w.view);     // [m, k]
    const std::vector<float> b_abs = test::abs_rows(bias.view);  // [m]
    std::vector<float> x_abs = x;                                // [n, k]
    for (auto& v : x_abs) v = std::fabs(v);
    for (bool with_bias : {false, true}) {
        SCOPED_TRACE(testing::Message() << " bias=" << with_bias);
        const TensorView* b = with_bias ? &bias.view : nullptr;
        std::vector<float> ref(size_t(n * m)), out(size_t(n * m), NAN);
        scalar.matmul(x.data(), n, w.view, b, ref.data());
        cpu.matmul(x.data(), n, w.view, b, out.data());
        // The sums of |terms|: the scale against which rounding is measured.
        std::vector<float> mag(size_t(n * m));
        const TensorView wa = make_view(w_abs.data(), DType::f32, {m, k});
        const TensorView ba = make_view(b_abs.data(), DType::f32, {m});
        scalar.matmul(x_abs.data(), n, wa, with_bias ? &ba : nullptr, mag.data());
        EXPECT_LT(test::error_vs_magnitude(out, ref, mag), 1e-6 + x_error);
        if (n * m >= 64 && x_error == 0) {
            EXPECT_LT(test::rel_error(out, ref), 1e-6);
        }
    }
}

TEST_F(MatmulTest, MatchesScalarForEveryDtypeAndShape) {
    std::mt19937 rng(7);
    for (DType t : k_weight_types) {
        for (int64_t k : k_values(t)) {
            for (int64_t m : {1, 13, 67}) {
                const test::Weights w = random_weights(rng, t, m, k);
                const test::Weights bias = random_weights(rng, DType::f32, 1, m);
                for (int64_t n : {1, 3, 17, 128}) {
                    SCOPED_TRACE(testing::Message()
                                 << dtype_name(t) << " n=" << n << " m=" << m << " k=" << k);
                    const std::vector<float> x = random_floats(rng, n * k);
                    if (t != DType::bf16) {
                        expect_matches_scalar(*scalar, *cpu2, w, bias, x, n, 0.0);
                        continue;
                    }
                    // bf16 weights: x as the kernel takes it (sharp), then any x (bounded by the
                    // precision of x's two parts).
                    expect_matches_scalar(*scalar, *cpu2, w, bias, test::to_bf16_pair_precision(x),
                                          n, 0.0);
                    expect_matches_scalar(*scalar, *cpu2, w, bias, x, n, test::k_bf16_x_precision);
                }
            }
        }
    }
}

TEST_F(MatmulTest, BiasInAnyDtype) {
    std::mt19937 rng(8);
    const int64_t n = 5, m = 37, k = 688;
    const test::Weights w = random_weights(rng, DType::bf16, m, k);
    const std::vector<float> x = test::to_bf16_pair_precision(random_floats(rng, n * k));
    for (DType bt : {DType::f32, DType::f16, DType::bf16}) {
        const test::Weights bias = random_weights(rng, bt, 1, m);
        std::vector<float> ref(size_t(n * m)), out(size_t(n * m));
        scalar->matmul(x.data(), n, w.view, &bias.view, ref.data());
        cpu2->matmul(x.data(), n, w.view, &bias.view, out.data());
        EXPECT_LT(test::rel_error(out, ref), 1e-6) << dtype_name(bt);
    }
}

// Every row computed alone, in uneven groups, all at once, on 1 and on 2 threads: bitwise equal.
TEST_F(MatmulTest, BitwiseInvariantToBatchCompositionAndThreads) {
    std::mt19937 rng(9);
    for (DType t : k_weight_types) {
        for (int64_t k : {int64_t(672), int64_t(2080)}) {
            const int64_t m = 301, n = 37;
            SCOPED_TRACE(testing::Message() << dtype_name(t) << " k=" << k);
            const test::Weights w = random_weights(rng, t, m, k);
            const test::Weights bias = random_weights(rng, DType::f32, 1, m);
            const std::vector<float> x = random_floats(rng, n * k);
            std::vector<float> all(size_t(n * m));
            cpu2->matmul(x.data(), n, w.view, &bias.view, all.data());

            std::vector<float> one(size_t(n * m));
            for (int64_t i = 0; i < n; ++i)
                cpu1->matmul(x.data() + i * k, 1, w.view, &bias.view, one.data() + i * m);
            EXPECT_TRUE(test::bitwise_equal(all.data(), one.data(), all.size()));

            std::vector<float> grouped(size_t(n * m));
            int64_t i = 0;
            for (int64_t g : {2, 5, 1, 7, 3, 4, 6, 9}) {
                g = std::min(g, n - i);
                cpu2->matmul(x.data() + i * k, g, w.view, &bias.view, grouped.data() + i * m);
                i += g;
            }
            ASSERT_EQ(i, n);
            EXPECT_TRUE(test::bitwise_equal(all.data(), grouped.data(), all.size()));

            std::vector<float> single_thread(size_t(n * m));
            cpu1->matmul(x.data(), n, w.view, &bias.view, single_thread.data());
            EXPECT_TRUE(test::bitwise_equal(all.data(), single_thread.data(), all.size()));
        }
    }
}

// Calls with small weights share rows out among the threads, calls with large ones share
// output columns (matmul.cpp): both give every row bitwise what a one-row call gives.
TEST_F(MatmulTest, RowAndColumnSplitsAgreeBitwise) {
    std::mt19937 rng(12);
    const int64_t n = 40, k = 2048;
    for (int64_t m : {int64_t(96), int64_t(1200)}) {  // 384 KiB and 4.7 MiB of bf16 weights
        SCOPED_TRACE(testing::Message() << "m=" << m);
        const test::Weights w = random_weights(rng, DType::bf16, m, k);
        const std::vector<float> x = random_floats(rng, n * k);
        std::vector<float> all(size_t(n * m)), one(size_t(n * m));
        cpu2->matmul(x.data(), n, w.view, nullptr, all.data());
        for (int64_t i = 0; i < n; ++i)
            cpu1->matmul(x.data() + i * k, 1, w.view, nullptr, one.data() + i * m);
        EXPECT_TRUE(test::bitwise_equal(all.data(), one.data(), all.size()));
    }
}

// Decode (one row of x) of weights far larger than one work unit (matmul.cpp), on 2 threads, for
// every dtype: bitwise what 1 thread gives and what the same row gives inside a prefill call,
// and close to the scalar reference. Row counts that leave partial decode tiles at the end.
TEST_F(MatmulTest, DecodeOfLargeWeightsOnTwoThreads) {
    std::mt19937 rng(13);
    const int64_t k = 2048, n = 7;
    for (DType t : k_weight_types) {
        for (int64_t m : {int64_t(4093), int64_t(1531)}) {
            SCOPED_TRACE(testing::Message() << dtype_name(t) << " m=" << m);
            const test::Weights w = random_weights(rng, t, m, k, 0.05f);
            std::vector<float> x = random_floats(rng, n * k);
            if (t == DType::bf16) x = test::to_bf16_pair_precision(x);
            std::vector<float> batch(size_t(n * m));
            std::vector<float> two(static_cast<size_t>(m)), one(two), ref(two);
            cpu2->matmul(x.data(), n, w.view, nullptr, batch.data());
            const float* last = x.data() + (n - 1) * k;
            cpu2->matmul(last, 1, w.view, nullptr, two.data());
            cpu1->matmul(last, 1, w.view, nullptr, one.data());
            scalar->matmul(last, 1, w.view, nullptr, ref.data());
            EXPECT_TRUE(test::bitwise_equal(two.data(), one.data(), two.size()));
            EXPECT_TRUE(test::bitwise_equal(two.data(), batch.data() + (n - 1) * m, two.size()));
            EXPECT_LT(test::rel_error(two, ref), 1e-6);
        }
    }
}

// A row's result does not depend on the values of the other rows in the call.
TEST_F(MatmulTest, BitwiseInvariantToOtherRowsValues) {
    std::mt19937 rng(10);
    const int64_t n = 20, m = 150, k = 688;
    const test::Weights w = random_weights(rng, DType::bf16, m, k);
    std::vector<float> x = random_floats(rng, n * k);
    std::vector<float> a(size_t(n * m)), b(size_t(n * m));
    cpu2->matmul(x.data(), n, w.view, nullptr, a.data());
    for (int64_t i = 0; i < n; i += 2)  // change every even row
        for (int64_t c = 0; c < k; ++c) x[size_t(i * k + c)] *= -3.0f;
    cpu2->matmul(x.data(), n, w.view, nullptr, b.data());
    for (int64_t i = 1; i < n; i += 2)
        EXPECT_TRUE(test::bitwise_equal(a.data() + i * m, b.data() + i * m, size_t(m))) << i;
}

TEST_F(MatmulTest, LargeShapeMatchesScalar) {
    std::mt19937 rng(11);
    const int64_t n = 9, m = 1000, k = 2048;
    for (DType t : {DType::bf16, DType::q4_0}) {
        const test::Weights w = random_weights(rng, t, m, k, 0.05f);
        std::vector<float> x = random_floats(rng, n * k);
        if (t == DType::bf16) x = test::to_bf16_pair_precision(x);
        std::vector<float> ref(size_t(n * m)), out(size_t(n * m));
        scalar->matmul(x.data(), n, w.view, nullptr, ref.data());
        cpu2->matmul(x.data(), n, w.view, nullptr, out.data());
        EXPECT_LT(test::rel_error(out, ref), 1e-6) << dtype_name(t);
    }
}

// matmuls (one x, several weights: q/k/v, gate/up) gives each output bitwise what a separate
// matmul call gives, also with mixed dtypes (two packings of x) and biases; and the base-class
// version (the scalar backend) matches too.
TEST_F(MatmulTest, SeveralWeightsMatchSeparateCallsBitwise) {
    std::mt19937 rng(13);
    const int64_t k = 672;
    test::expect_matmuls_match_separate_calls(rng, k, {scalar.get(), cpu1.get(), cpu2.get()});
    // Weights of different k cannot share x.
    const test::Weights first = random_weights(rng, DType::bf16, 67, k);
    const test::Weights other = random_weights(rng, DType::bf16, 3, k + 17);
    std::vector<float> x(size_t(k + 17)), y1(67), y2(3);
    const Backend::MatmulOut bad[] = {{&first.view, nullptr, y1.data()},
                                      {&other.view, nullptr, y2.data()}};
    EXPECT_THROW(cpu2->matmuls(x.data(), 1, bad), Error);
}

TEST_F(MatmulTest, RejectsUnsupportedWeights) {
    std::vector<int32_t> data(64);
    const TensorView w = make_view(data.data(), DType::i32, {2, 32});
    std::vector<float> x(32), y(2);
    EXPECT_THROW(cpu2->matmul(x.data(), 1, w, nullptr, y.data()), Error);
}

}  // namespace
}  // namespace encore
