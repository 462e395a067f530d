// Every op of the CUDA backend against the scalar CPU backend, op by op, on random inputs
// (tests/gpu/run.sh runs this on a GPU; without one every test is skipped with a message).
//
// Tolerances, per op and dtype (error measures of tests/backend/test_util.h):
//   embed, gather_rows, kv_store: bitwise (pure copies and exact conversions; into an f16 or bf16
//     pool both backends round to nearest even, the same bits);
//   rms_norm: 2e-6 max relative up to d = 4096, growing with d (f32 sums in another order);
//   silu_mul, add: 1e-6 max relative (f32 math, expf);
//   rope: 2e-6 max relative (sincosf against the host's sin and cos);
//   matmul f32 weights: 1e-6 of the sum of |terms| (plain f32, no TF32; another summation order);
//   matmul bf16 / f16 weights: the GPU rounds x to the weights' 16-bit type, so against the
//     scalar backend fed the same rounded x: 1e-6 of the sum of |terms|; against unrounded x:
//     bf16 8e-3, f16 1e-3 of the sum of |terms| (one rounding of each x: 2^-8, 2^-11);
//   matmul q8_0 / q4_0: dequantized in the kernel, f32 math: 1e-6 of the sum of |terms|;
//   attention: 1e-5 max relative (online softmax over splits of 256 keys against the plain one),
//     over f32 pools and over f16 and bf16 pools the CUDA-core kernel takes (both backends widen
//     the same stored bits exactly); f16/bf16 pools of head_dim 64 or 128 go to the tensor-core
//     kernel, which rounds Q and the softmax weights to the pool's type: 2e-3 (f16), 1e-2 (bf16).
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>

#include "../backend/test_util.h"
#include "backend/backend.h"
#include "backend/cuda/kernels.h"
#include "core/dtype.h"
#include "core/error.h"

namespace encore {
namespace {

using test::error_vs_magnitude;
using test::max_rel_error;
using test::random_floats;
using test::random_weights;
using test::term_magnitudes;

class CudaOps : public ::testing::Test {
  public:
    void SetUp() override {
        std::string why;
        if (!cuda_available(&why)) GTEST_SKIP() << "no GPU: " << why;
        cuda = make_cuda_backend({});
    }
    // Device copy of host floats.
    float* up(const std::vector<float>& host) {
        auto* p = static_cast<float*>(cuda->allocate(host.size() * sizeof(float)));
        cuda->from_host(p, host.data(), host.size() * sizeof(float));
        owned.push_back(p);
        return p;
    }
    float* device_floats(size_t n) {
        auto* p = static_cast<float*>(cuda->allocate(n * sizeof(float)));
        std::vector<float> poison(n, std::numeric_limits<float>::quiet_NaN());
        cuda->from_host(p, poison.data(), n * sizeof(float));  // every element must be written
        owned.push_back(p);
        return p;
    }
    std::vector<float> down(const float* p, size_t n) {
        std::vector<float> host(n);
        cuda->to_host(host.data(), p, n * sizeof(float));
        return host;
    }
    void TearDown() override {
        for (void* p : owned) cuda->deallocate(p);
    }

    std::unique_ptr<Backend> scalar = make_scalar_backend();
    std::unique_ptr<Backend> cuda;
    std::vector<void*> owned;
    std::mt19937 rng{1234};
};

TEST_F(CudaOps, EmbedEveryDtypeBitwise) {
    for (DType dtype : {DType::f32, DType::f16, DType::bf16, DType::q8_0, DType::q4_0}) {
        SCOPED_TRACE(std::string(dtype_name(dtype)));
        const int64_t vocab = 300, d = 96, n = 37;
        const auto table = random_weights(rng, dtype, vocab, d);
        std::vector<int32_t> ids(n);
        for (auto& id : ids) id = int32_t(rng() % vocab);
        std::vector<float> ref(size_t(n * d));
        scalar->embed(table.view, ids.data(), n, ref.data());
        float* out = device_floats(size_t(n * d));
        cuda->embed(table.view, ids.data(), n, out);
        EXPECT_EQ(down(out, size_t(n * d)), ref);
    }
}

TEST_F(CudaOps, EmbedRejectsOutOfRangeIds) {
    const auto table = random_weights(rng, DType::f32, 10, 32);
    const int32_t ids[] = {3, 10};
    float* out = device_floats(64);
    EXPECT_THROW(cuda->embed(table.view, ids, 2, out), Error);
}

// The scalar backend adds a row's squares in index order in f32, the GPU in a tree: both sums
// round, the scalar one more as rows grow (measured up to 1.6e-6 at d = 4096-12288).
double rms_norm_tolerance(int64_t d) {
    return 2e-6 * std::max(1.0, double(d) / 4096);
}

TEST_F(CudaOps, RmsNormRowsOfEveryLength) {
    // Register-resident rows up to 8192 (d % 4 == 0), the strided loop otherwise.
    for (int64_t d : {8, 16, 24, 64, 128, 300, 2048, 4096, 4100, 4098, 8192, 12288}) {
        SCOPED_TRACE(d);
        const int64_t n = 19;
        const auto x = random_floats(rng, n * d, 3.0f);
        const auto w = random_weights(rng, DType::f32, 1, d);
        std::vector<float> ref(x.size());
        scalar->rms_norm(x.data(), w.view, 1e-5f, n, ref.data());
        float* xd = up(x);
        cuda->rms_norm(xd, w.view, 1e-5f, n, xd);  // in place, as the forward pass may
        EXPECT_LE(max_rel_error(down(xd, x.size()), ref), rms_norm_tolerance(d));
    }
}

TEST_F(CudaOps, MatmulEveryWeightDtype) {
    struct Case {
        DType dtype;
        double same_x_tolerance;  // vs scalar on x rounded as the GPU rounds it
        double tolerance;         // vs scalar on x as given
    };
    for (const Case c :
         {Case{DType::f32, 1e-6, 1e-6}, Case{DType::bf16, 1e-6, 8e-3}, Case{DType::f16, 1e-6, 1e-3},
          Case{DType::q8_0, 1e-6, 1e-6}, Case{DType::q4_0, 1e-6, 1e-6}}) {
        for (int64_t n : {1, 3, 8, 17, 64, 200}) {
            SCOPED_TRACE(std::string(dtype_name(c.dtype)) + " n=" + std::to_string(n));
            const int64_t m = 96, k = 256;
            const auto w = random_weights(rng, c.dtype, m, k);
            const auto bias = random_weights(rng, DType::f32, 1, m);
            const auto x = random_floats(rng, n * k);
            // The inputs the GPU's GEMM sees: x rounded to the weights' 16-bit type.
            std::vector<float> x_seen = x;
            for (auto& v : x_seen) {
                if (c.dtype == DType::bf16) v = bf16_to_f32(f32_to_bf16(v));
                if (c.dtype == DType::f16) v = f16_to_f32(f32_to_f16(v));
            }
            std::vector<float> ref(size_t(n * m)), ref_seen(size_t(n * m));
            scalar->matmul(x.data(), n, w.view, &bias.view, ref.data());
            scalar->matmul(x_seen.data(), n, w.view, &bias.view, ref_seen.data());
            // Sum of |terms| of each output, for the error measure.
            const auto mag = term_magnitudes(x, n, w.view, &bias.view);
            float* y = device_floats(size_t(n * m));
            cuda->matmul(up(x), n, w.view, &bias.view, y);
            const auto got = down(y, size_t(n * m));
            EXPECT_LE(error_vs_magnitude(got, ref_seen, mag), c.same_x_tolerance);
            EXPECT_LE(error_vs_magnitude(got, ref, mag), c.tolerance);
        }
    }
}

// Decode rows (1-4) against 40 weight rows of 14336 columns (Llama-3-8B's down projection), whose
// GEMV starts each row at another of its 14 steps (gemv.cu): against the scalar backend on the
// same rounded x.
TEST_F(CudaOps, DecodeGemvOfLongRows) {
    for (DType dtype : {DType::bf16, DType::f16}) {
        for (int64_t n : {1, 2, 4}) {
            SCOPED_TRACE(std::string(dtype_name(dtype)) + " n=" + std::to_string(n));
            const int64_t m = 40, k = 14336;
            const auto w = random_weights(rng, dtype, m, k);
            auto x = random_floats(rng, n * k);
            for (auto& v : x)
                v = dtype == DType::bf16 ? bf16_to_f32(f32_to_bf16(v)) : f16_to_f32(f32_to_f16(v));
            std::vector<float> ref(size_t(n * m));
            scalar->matmul(x.data(), n, w.view, nullptr, ref.data());
            const auto mag = term_magnitudes(x, n, w.view);
            float* y = device_floats(size_t(n * m));
            cuda->matmul(up(x), n, w.view, nullptr, y);
            EXPECT_LE(error_vs_magnitude(down(y, size_t(n * m)), ref, mag), 1e-6);
        }
    }
}

TEST_F(CudaOps, MatmulsEqualSeparateMatmulsBitwise) {
    // n = 1 and 3 take the GEMV with the weights in one launch, n = 5 the GEMMs.
    for (int64_t n : {1, 3, 5}) {
        SCOPED_TRACE(n);
        const int64_t k = 128;
        const auto wq = random_weights(rng, DType::bf16, 64, k);
        const auto wk = random_weights(rng, DType::bf16, 32, k);
        const auto wv = random_weights(rng, DType::bf16, 40, k);
        const auto bv = random_weights(rng, DType::f32, 1, 40);
        const auto x = random_floats(rng, n * k);
        float* xd = up(x);
        const TensorView* ws[] = {&wq.view, &wk.view, &wv.view};
        std::vector<float*> ys, ys1;
        std::vector<Backend::MatmulOut> outs;
        for (int i = 0; i < 3; ++i) {
            ys.push_back(device_floats(size_t(n * ws[i]->n_rows())));
            ys1.push_back(device_floats(size_t(n * ws[i]->n_rows())));
            outs.push_back({ws[i], i == 2 ? &bv.view : nullptr, ys.back()});
        }
        cuda->matmuls(xd, n, outs);
        for (int i = 0; i < 3; ++i) {
            cuda->matmul(xd, n, *ws[i], i == 2 ? &bv.view : nullptr, ys1[size_t(i)]);
            const size_t count = size_t(n * ws[i]->n_rows());
            EXPECT_EQ(down(ys[size_t(i)], count), down(ys1[size_t(i)], count)) << "weight " << i;
        }
    }
}

// A GEMM pair's (or a GEMM's with its residual add) outputs against separate calls': the same
// bits under deterministic (the single product's algorithm), else the same values up to the
// order of the sums (1e-5 of the largest).
void expect_pair_values(bool deterministic, const std::vector<float>& got,
                        const std::vector<float>& want) {
    if (deterministic)
        EXPECT_EQ(got, want);
    else
        EXPECT_LE(max_rel_error(got, want), 1e-5);
}

// Weights of one shape next to each other in matmuls() (k and v, gate and up) run as one strided
// batch of two GEMMs, here at the layer shapes of Llama-3-8B, whose GEMMs are cuBLASLt's
// large-tile kernels (the test above covers small shapes and the GEMV). Deterministic: the
// single product's algorithm, so the bits of separate calls. By default the batch's own
// algorithm: the values of separate calls up to the order of their sums (1e-5 of the largest).
TEST_F(CudaOps, PairedGemmsEqualSeparateMatmuls) {
    struct Case {
        int64_t m, k, n;
    };
    for (const bool deterministic : {true, false}) {
        SCOPED_TRACE(deterministic ? "deterministic" : "default");
        cuda = make_cuda_backend({0, deterministic});
        auto expect_same = [&](const std::vector<float>& got, const std::vector<float>& want) {
            expect_pair_values(deterministic, got, want);
        };
        for (const Case c : {Case{1024, 4096, 512}, Case{1024, 4096, 300}, Case{14336, 4096, 96}}) {
            SCOPED_TRACE(c.m);
            SCOPED_TRACE(c.n);
            const auto w0 = random_weights(rng, DType::bf16, c.m, c.k);
            const auto w1 = random_weights(rng, DType::bf16, c.m, c.k);
            const auto bias = random_weights(rng, DType::f32, 1, c.m);
            const auto x = random_floats(rng, c.n * c.k);
            float* xd = up(x);
            const size_t count = size_t(c.n * c.m);
            float* z0 = device_floats(count);
            float* z1 = device_floats(count);
            cuda->matmul(xd, c.n, w0.view, nullptr, z0);
            cuda->matmul(xd, c.n, w1.view, &bias.view, z1);
            const auto want0 = down(z0, count), want1 = down(z1, count);
            // Outputs one after the other in both orders: whichever weight lies first in memory,
            // one of the two runs has both strides positive and takes the batch.
            float* y = device_floats(2 * count);
            for (const bool swapped : {false, true}) {
                SCOPED_TRACE(swapped);
                float* y0 = swapped ? y + count : y;
                float* y1 = swapped ? y : y + count;
                const Backend::MatmulOut pair[] = {{&w0.view, nullptr, y0},
                                                   {&w1.view, &bias.view, y1}};
                cuda->matmuls(xd, c.n, pair);
                expect_same(down(y0, count), want0);
                expect_same(down(y1, count), want1);
            }
            // Another pair of the same shape lies at another distance in memory (as every
            // layer's weights do): the batch layouts of the shape take this call's strides.
            const auto w2 = random_weights(rng, DType::bf16, c.m, c.k);
            float* z2 = device_floats(count);
            cuda->matmul(xd, c.n, w2.view, nullptr, z2);
            const auto want2 = down(z2, count);
            const Backend::MatmulOut far_pair[] = {{&w0.view, nullptr, y},
                                                   {&w2.view, nullptr, y + count}};
            cuda->matmuls(xd, c.n, far_pair);
            expect_same(down(y, count), want0);
            expect_same(down(y + count, count), want2);
        }
    }
}

// An output said to be read only by 16-bit matmuls (next_output_for_matmuls) is written as its
// 16-bit copy only (its f32 values stay as they were: poison here), and those matmuls give the
// bits they give without the hint, whichever op wrote it: rms_norm, silu_mul,
// swiglu at prefill rows (the batched GEMMs) and at decode rows (the GEMV). The hint covers one
// op; for weights of another type the f32 values are written, and a matmul that would read
// skipped f32 values stops with an internal error.
TEST_F(CudaOps, OutputsForMatmulsAreWrittenAsTheirSixteenBitCopyOnly) {
    const int64_t d = 256, f = 512;
    const auto norm_w = random_weights(rng, DType::bf16, 1, d);
    const auto w = random_weights(rng, DType::bf16, f, d);       // reads the norms' outputs
    const auto w_down = random_weights(rng, DType::bf16, d, f);  // reads silu_mul's, swiglu's
    const auto w_gate = random_weights(rng, DType::bf16, f, d);
    const auto w_up = random_weights(rng, DType::bf16, f, d);
    const auto w_q8 = random_weights(rng, DType::q8_0, f, d);
    auto poisoned = [](const std::vector<float>& v) {
        return std::all_of(v.begin(), v.end(), [](float e) { return std::isnan(e); });
    };
    for (int64_t n : {2, 37}) {
        SCOPED_TRACE(n);
        const auto x = random_floats(rng, n * d, 3.0f);
        const auto gate = random_floats(rng, n * f, 3.0f);
        const auto upv = random_floats(rng, n * f, 3.0f);
        float* xd = up(x);
        float* gd = up(gate);
        float* ud = up(upv);
        float* z = device_floats(size_t(n * f));
        float* zd = device_floats(size_t(n * d));
        cuda->matmul(xd, n, w.view, nullptr, z);  // a 16-bit matmul first: the copies' type
        // op(out) writes an output that `consume` reads; `consume` gives its result's values.
        auto check = [&](const char* what, size_t count, auto op, auto consume) {
            SCOPED_TRACE(what);
            float* plain = device_floats(count);
            op(plain);
            const auto want = consume(plain);
            float* only16 = device_floats(count);
            cuda->next_output_for_matmuls(DType::bf16);
            op(only16);
            EXPECT_EQ(consume(only16), want);
            EXPECT_TRUE(poisoned(down(only16, count)));
        };
        auto through_w = [&](float* h) {
            cuda->matmul(h, n, w.view, nullptr, z);
            return down(z, size_t(n * f));
        };
        auto through_down = [&](float* h) {
            cuda->matmul(h, n, w_down.view, nullptr, zd);
            return down(zd, size_t(n * d));
        };
        check(
            "rms_norm", size_t(n * d),
            [&](float* out) { cuda->rms_norm(xd, norm_w.view, 1e-5f, n, out); }, through_w);
        check(
            "silu_mul", size_t(n * f), [&](float* out) { cuda->silu_mul(gd, ud, n * f, out); },
            through_down);
        check(
            "swiglu", size_t(n * f),
            [&](float* out) {
                float* g = device_floats(size_t(n * f));
                float* u = device_floats(size_t(n * f));
                cuda->swiglu(xd, n, w_gate.view, w_up.view, g, u, out);
            },
            through_down);

        // Weights of another type: the f32 values are written.
        float* h = device_floats(size_t(n * d));
        cuda->next_output_for_matmuls(DType::q8_0);
        cuda->rms_norm(xd, norm_w.view, 1e-5f, n, h);
        EXPECT_FALSE(poisoned(down(h, size_t(n * d))));
        // A broken promise: the q8_0 matmul reads f32 values the norm did not write.
        cuda->next_output_for_matmuls(DType::bf16);
        cuda->rms_norm(xd, norm_w.view, 1e-5f, n, h);
        EXPECT_THROW(cuda->matmul(h, n, w_q8.view, nullptr, z), Error);
    }
}

// swiglu at a prefill's rows runs gate and up as one batch into its scratch, lower weight into
// the lower buffer, whichever order the scratch buffers lie in (Llama-3-8B's shape, cuBLASLt's
// large-tile kernels): deterministic, the bits of separate matmul calls and silu_mul; by default
// (the batch's own algorithm) their values up to the order of the sums (1e-5 of the largest).
TEST_F(CudaOps, SwigluOfPrefillRowsEqualsSeparateMatmuls) {
    const int64_t f = 14336, k = 4096;
    const auto wg = random_weights(rng, DType::bf16, f, k, 0.05f);
    const auto wu = random_weights(rng, DType::bf16, f, k, 0.05f);
    for (const bool deterministic : {true, false}) {
        SCOPED_TRACE(deterministic ? "deterministic" : "default");
        cuda = make_cuda_backend({0, deterministic});
        auto expect_same = [&](const std::vector<float>& got, const std::vector<float>& want) {
            expect_pair_values(deterministic, got, want);
        };
        for (int64_t n : {96, 512}) {
            SCOPED_TRACE(n);
            const auto x = random_floats(rng, n * k);
            float* xd = up(x);
            const size_t count = size_t(n * f);
            float* gate = device_floats(count);
            float* upv = device_floats(count);
            cuda->matmul(xd, n, wg.view, nullptr, gate);
            cuda->matmul(xd, n, wu.view, nullptr, upv);
            cuda->silu_mul(gate, upv, n * f, gate);
            const auto want = down(gate, count);
            float* scratch = device_floats(2 * count);
            for (const bool swapped : {false, true}) {
                SCOPED_TRACE(swapped);
                float* g = swapped ? scratch + count : scratch;
                float* u = swapped ? scratch : scratch + count;
                float* out = device_floats(count);
                cuda->swiglu(xd, n, wg.view, wu.view, g, u, out);
                const auto got = down(out, count);
                expect_same(got, want);
                cuda->swiglu(xd, n, wg.view, wu.view, g, u, g);  // out may be gate
                EXPECT_EQ(down(g, count), got);
            }
        }
    }
}

// matmul_add (the residual add in the GEMM's epilogue or the GEMV's store) against matmul into
// scratch then add: n = 1 and 3 take the GEMV (bitwise: the same sum plus the same residual), 64
// and 512 the GEMM (Llama-3-8B's o and down shapes at 512), with bf16 and f16 weights; with a
// bias or f32 weights the two steps themselves. Bitwise under deterministic; by default within
// 1e-5 of the largest (a split-K GEMM may meet the residual in another order), and the count of
// differing elements printed.
TEST_F(CudaOps, MatmulAddEqualsMatmulThenAdd) {
    struct Case {
        DType dtype;
        int64_t m, k;
        bool bias;
    };
    for (const bool deterministic : {true, false}) {
        SCOPED_TRACE(deterministic ? "deterministic" : "default");
        cuda = make_cuda_backend({0, deterministic});
        for (const Case c :
             {Case{DType::bf16, 4096, 4096, false}, Case{DType::bf16, 4096, 14336, false},
              Case{DType::f16, 1024, 2048, false}, Case{DType::bf16, 512, 1024, true},
              Case{DType::f32, 256, 512, false}}) {
            SCOPED_TRACE(std::string(dtype_name(c.dtype)) + " " + std::to_string(c.m) + "x" +
                         std::to_string(c.k) + (c.bias ? " bias" : ""));
            const auto w = random_weights(rng, c.dtype, c.m, c.k);
            const auto bias = random_weights(rng, DType::f32, 1, c.m);
            for (int64_t n : {1, 3, 64, 512}) {
                SCOPED_TRACE(n);
                const auto x = random_floats(rng, n * c.k);
                const auto residual = random_floats(rng, n * c.m, 4.0f);
                const size_t count = size_t(n * c.m);
                float* xd = up(x);
                float* want_d = up(residual);
                float* scratch = device_floats(count);
                cuda->matmul(xd, n, w.view, c.bias ? &bias.view : nullptr, scratch);
                cuda->add(want_d, scratch, int64_t(count));
                const auto want = down(want_d, count);
                float* got_d = up(residual);
                cuda->matmul_add(xd, n, w.view, c.bias ? &bias.view : nullptr, got_d,
                                 device_floats(count));
                const auto got = down(got_d, count);
                const bool gemv = !deterministic && n <= 4 && c.dtype != DType::f32;
                if (gemv || c.bias || c.dtype == DType::f32) {
                    EXPECT_EQ(got, want);
                } else {
                    expect_pair_values(deterministic, got, want);
                    const auto differ = std::inner_product(
                        got.begin(), got.end(), want.begin(), size_t(0), std::plus<>(),
                        [](float a, float b) { return size_t(a != b); });
                    if (differ)
                        std::printf("matmul_add %s: %zu of %zu elements differ\n",
                                    deterministic ? "deterministic" : "default", differ, count);
                }
            }
        }
    }
}

// swiglu gives the bits of the gate/up matmuls followed by silu_mul: n = 1 and 3 take the GEMV
// with SwiGLU in its epilogue, n = 5 the GEMMs and silu_mul. Its output's 16-bit copy (for the
// down matmul) gives that matmul the bits of the same values uploaded afresh.
TEST_F(CudaOps, SwigluEqualsMatmulsThenSiluMulBitwise) {
    // f = 302: the last block has rows past the end; 304: a k the down GEMV takes.
    for (const auto& [dtype, f] :
         {std::pair{DType::bf16, int64_t(302)}, std::pair{DType::bf16, int64_t(304)},
          std::pair{DType::f16, int64_t(304)}}) {
        for (int64_t n : {1, 3, 5}) {
            SCOPED_TRACE(std::string(dtype_name(dtype)) + " f=" + std::to_string(f) +
                         " n=" + std::to_string(n));
            const int64_t k = 256;
            const auto wg = random_weights(rng, dtype, f, k, 0.1f);
            const auto wu = random_weights(rng, dtype, f, k, 0.1f);
            const auto wd = random_weights(rng, dtype, k, f, 0.1f);
            const auto x = random_floats(rng, n * k);
            float* xd = up(x);
            float* out = device_floats(size_t(n * f));
            cuda->swiglu(xd, n, wg.view, wu.view, device_floats(size_t(n * f)),
                         device_floats(size_t(n * f)), out);
            float* down_of_out = device_floats(size_t(n * k));
            if (f % 8 == 0) cuda->matmul(out, n, wd.view, nullptr, down_of_out);  // the 16-bit copy
            const auto fused = down(out, size_t(n * f));

            float* gate = device_floats(size_t(n * f));
            float* upv = device_floats(size_t(n * f));
            const Backend::MatmulOut gate_up[] = {{&wg.view, nullptr, gate},
                                                  {&wu.view, nullptr, upv}};
            cuda->matmuls(xd, n, gate_up);
            cuda->silu_mul(gate, upv, n * f, gate);
            EXPECT_EQ(fused, down(gate, size_t(n * f)));
            if (f % 8) continue;
            float* down_fresh = device_floats(size_t(n * k));
            cuda->matmul(up(fused), n, wd.view, nullptr, down_fresh);
            EXPECT_EQ(down(down_of_out, size_t(n * k)), down(down_fresh, size_t(n * k)));
        }
    }
}

// Kernels may start before the one before them has ended (launch.cuh): a chain of dependent
// decode-shaped ops (the MLP block: RMSNorm, gate/up GEMV and SiLU·mul, fused in every other
// round, the down GEMV adding to the residual, many times over, each reading what the one before
// wrote) gives the
// same bits enqueued back to back as with the stream drained after every op, where nothing can
// overlap. A kernel reading its input before its wait would see the previous round's values.
TEST_F(CudaOps, OverlappedLaunchesGiveTheBitsOfSerialOnes) {
    const int64_t d = 1024, f = 2816;
    const auto norm_w = random_weights(rng, DType::bf16, 1, d);
    const auto gate_w = random_weights(rng, DType::bf16, f, d, 0.05f);
    const auto up_w = random_weights(rng, DType::bf16, f, d, 0.05f);
    const auto down_w = random_weights(rng, DType::bf16, d, f, 0.05f);
    const auto x0 = random_floats(rng, d), y0 = random_floats(rng, d);
    float* probe = device_floats(1);
    auto run = [&](bool drain) {
        float* x = up(x0);
        float* y = up(y0);
        float* gate = device_floats(size_t(f));
        float* upv = device_floats(size_t(f));
        auto step = [&] {
            if (!drain) return;
            float host = 0;
            cuda->to_host(&host, probe, sizeof(float));  // waits for the stream to drain
        };
        for (int round = 0; round < 40; ++round) {
            cuda->rms_norm(x, norm_w.view, 1e-5f, 1, y);
            step();
            if (round % 2) {
                cuda->swiglu(y, 1, gate_w.view, up_w.view, gate, upv, gate);
            } else {
                const Backend::MatmulOut gate_up[] = {{&gate_w.view, nullptr, gate},
                                                      {&up_w.view, nullptr, upv}};
                cuda->matmuls(y, 1, gate_up);
                step();
                cuda->silu_mul(gate, upv, f, gate);
            }
            step();
            cuda->matmul_add(gate, 1, down_w.view, nullptr, x, y);
            step();
        }
        return down(x, size_t(d));
    };
    const auto overlapped = run(false);
    const auto serial = run(true);
    EXPECT_EQ(overlapped, serial);
    EXPECT_TRUE(
        std::all_of(serial.begin(), serial.end(), [](float v) { return std::isfinite(v); }));
}

TEST_F(CudaOps, RopeAtLongPositions) {
    for (int head_dim : {8, 16, 64, 128}) {
        SCOPED_TRACE(head_dim);
        const int64_t n = 11;
        const int n_heads = 3;
        std::vector<float> inv_freq(size_t(head_dim / 2));
        for (int i = 0; i < head_dim / 2; ++i)
            inv_freq[size_t(i)] = std::pow(10000.0f, -2.0f * float(i) / float(head_dim));
        const RopeTable table{inv_freq.data(), head_dim};
        std::vector<int32_t> pos(n);
        for (auto& p : pos) p = int32_t(rng() % 9000);
        const auto x = random_floats(rng, n * n_heads * head_dim);
        auto ref = x;
        scalar->rope(ref.data(), n, n_heads, pos.data(), table);
        float* xd = up(x);
        cuda->rope(xd, n, n_heads, pos.data(), table);
        EXPECT_LE(max_rel_error(down(xd, x.size()), ref), 2e-6);
    }
}

TEST_F(CudaOps, SiluMulAddGatherRows) {
    for (int64_t m : {10008, 10007}) {  // four values at a time; one at a time
        const auto g = random_floats(rng, m, 4.0f), u = random_floats(rng, m);
        std::vector<float> ref(static_cast<size_t>(m));
        scalar->silu_mul(g.data(), u.data(), m, ref.data());
        float* out = device_floats(static_cast<size_t>(m));
        cuda->silu_mul(up(g), up(u), m, out);
        EXPECT_LE(max_rel_error(down(out, size_t(m)), ref), 1e-6) << m;
    }

    const int64_t n = 10007;
    const auto g = random_floats(rng, n, 4.0f), u = random_floats(rng, n);
    auto sum = g;
    scalar->add(sum.data(), u.data(), n);
    float* gd = up(g);
    cuda->add(gd, up(u), n);
    EXPECT_EQ(down(gd, size_t(n)), sum);

    const int64_t d = 77;
    const auto src = random_floats(rng, 40 * d);
    const std::vector<int32_t> rows = {39, 0, 7, 7, 12};
    std::vector<float> gathered(rows.size() * size_t(d));
    scalar->gather_rows(src.data(), d, rows.data(), int64_t(rows.size()), gathered.data());
    float* dst = device_floats(gathered.size());
    cuda->gather_rows(up(src), d, rows.data(), int64_t(rows.size()), dst);
    EXPECT_EQ(down(dst, gathered.size()), gathered);
}

// A paged pool mirrored on the device: the same blocks, the same tables.
struct MirroredPool {
    test::KvPool host;
    float* device = nullptr;
    MirroredPool(int n_kv_heads, int head_dim, int block_size, int64_t n_blocks, std::mt19937& rng,
                 DType type = DType::f32)
        : host(n_kv_heads, head_dim, block_size, n_blocks, rng, type) {}
    KvLayerView device_view(int instance) const {
        KvLayerView v = host.view(instance);
        v.pool = device;
        return v;
    }
};

// Stores K/V of a batch of sequences (each a prefill of `lengths[s]` tokens, or one token at the
// end of it when decode), then attends, on both backends.
void check_attention(CudaOps& t, Backend& scalar, Backend& cuda, int n_heads, int n_kv_heads,
                     int head_dim, const std::vector<int>& lengths, bool decode, std::mt19937& rng,
                     DType kv_type = DType::f32) {
    MirroredPool pool(n_kv_heads, head_dim, 16, 512, rng, kv_type);
    pool.host.assign(lengths, rng);
    // Fill every sequence's earlier positions (the cache), then the batch's own tokens.
    test::Batch history, batch;
    for (int s = 0; s < int(lengths.size()); ++s)
        for (int p = 0; p < lengths[size_t(s)]; ++p)
            (decode && p < lengths[size_t(s)] - 1 ? history : batch).add(s, p);
    pool.device = t.up(pool.host.data);
    auto store = [&](const test::Batch& b) {
        if (b.size() == 0) return;
        const auto k = random_floats(rng, b.size() * n_kv_heads * head_dim);
        const auto v = random_floats(rng, b.size() * n_kv_heads * head_dim);
        scalar.kv_store(k.data(), v.data(), pool.host.view(1), b.layout(pool.host));
        cuda.begin_batch(b.layout(pool.host));
        cuda.kv_store(t.up(k), t.up(v), pool.device_view(1), b.layout(pool.host));
    };
    store(history);
    store(batch);
    const std::vector<float> stored = t.down(pool.device, pool.host.data.size());
    EXPECT_EQ(std::memcmp(stored.data(), pool.host.data.data(), stored.size() * sizeof(float)), 0)
        << "kv_store differs";
    const auto q = random_floats(rng, batch.size() * n_heads * head_dim);
    std::vector<float> ref(q.size());
    scalar.attention(q.data(), n_heads, pool.host.view(1), batch.layout(pool.host), ref.data());
    float* out = t.device_floats(q.size());
    cuda.begin_batch(batch.layout(pool.host));
    cuda.attention(t.up(q), n_heads, pool.device_view(1), batch.layout(pool.host), out);
    // f16/bf16 pools of head_dim 64 or 128 take the tensor-core kernel, which rounds Q and the
    // softmax weights to the pool's type (attention_mma_test.cpp states its tolerances).
    const bool tensor_cores = kv_type != DType::f32 && (head_dim == 64 || head_dim == 128);
    const double tolerance = !tensor_cores ? 1e-5 : kv_type == DType::bf16 ? 1e-2 : 2e-3;
    EXPECT_LE(max_rel_error(t.down(out, q.size()), ref), tolerance);
}

// rope_kv_store in one launch gives the bits of rope, rope and kv_store in turn (q, k and the
// pool), over every pool type, and the scalar backend's values within rope's tolerance.
TEST_F(CudaOps, RopeKvStoreEqualsRopeThenKvStore) {
    for (DType kv_type : {DType::f32, DType::f16, DType::bf16}) {
        for (int head_dim : {16, 128}) {
            SCOPED_TRACE(std::string(dtype_name(kv_type)) + " hd " + std::to_string(head_dim));
            const int n_heads = 8, n_kv_heads = 2;
            std::vector<float> inv_freq(size_t(head_dim / 2));
            for (int i = 0; i < head_dim / 2; ++i)
                inv_freq[size_t(i)] = std::pow(500000.0f, -2.0f * float(i) / float(head_dim));
            const RopeTable table{inv_freq.data(), head_dim};
            MirroredPool pool(n_kv_heads, head_dim, 16, 64, rng, kv_type);
            pool.host.assign({40, 3, 300}, rng);
            test::Batch batch;  // prefill of sequence 0, decode of 1, a chunk of 2
            for (int p = 0; p < 40; ++p) batch.add(0, p);
            batch.add(1, 2);
            for (int p = 290; p < 300; ++p) batch.add(2, p);
            const int64_t n = batch.size();
            const BatchLayout layout = batch.layout(pool.host);
            const auto q = random_floats(rng, n * n_heads * head_dim);
            const auto k = random_floats(rng, n * n_kv_heads * head_dim);
            const auto v = random_floats(rng, n * n_kv_heads * head_dim);
            const size_t pool_floats = pool.host.data.size();

            float* q1 = up(q);
            float* k1 = up(k);
            pool.device = up(pool.host.data);
            cuda->begin_batch(layout);
            cuda->rope_kv_store(q1, n_heads, k1, up(v), table, pool.device_view(1), layout);
            const auto q_fused = down(q1, q.size()), k_fused = down(k1, k.size());
            const auto pool_fused = down(pool.device, pool_floats);

            float* q2 = up(q);
            float* k2 = up(k);
            pool.device = up(pool.host.data);
            cuda->begin_batch(layout);
            cuda->rope(q2, n, n_heads, layout.positions, table);
            cuda->rope(k2, n, n_kv_heads, layout.positions, table);
            cuda->kv_store(k2, up(v), pool.device_view(1), layout);
            EXPECT_EQ(q_fused, down(q2, q.size()));
            EXPECT_EQ(k_fused, down(k2, k.size()));
            EXPECT_EQ(std::memcmp(pool_fused.data(), down(pool.device, pool_floats).data(),
                                  pool_floats * sizeof(float)),
                      0);

            auto q_ref = q, k_ref = k;
            scalar->rope_kv_store(q_ref.data(), n_heads, k_ref.data(), v.data(), table,
                                  pool.host.view(1), layout);
            EXPECT_LE(max_rel_error(q_fused, q_ref), 2e-6);
            EXPECT_LE(max_rel_error(k_fused, k_ref), 2e-6);
        }
    }
}

TEST_F(CudaOps, AttentionPrefillEveryHeadDimAndGrouping) {
    struct Shape {
        int n_heads, n_kv_heads, head_dim;
    };
    for (const Shape s : {Shape{4, 2, 16}, Shape{8, 1, 8}, Shape{3, 3, 16}, Shape{4, 2, 24},
                          Shape{8, 2, 32}, Shape{8, 8, 64}, Shape{32, 8, 128}, Shape{4, 4, 256}}) {
        SCOPED_TRACE(std::to_string(s.n_heads) + "/" + std::to_string(s.n_kv_heads) + " hd " +
                     std::to_string(s.head_dim));
        check_attention(*this, *scalar, *cuda, s.n_heads, s.n_kv_heads, s.head_dim,
                        {37, 1, 300, 16}, false, rng);
    }
}

TEST_F(CudaOps, AttentionDecodeAcrossSplits) {
    for (int head_dim : {16, 128}) {
        SCOPED_TRACE(head_dim);
        // Contexts on both sides of the 256-key splits.
        check_attention(*this, *scalar, *cuda, 8, 2, head_dim, {1, 255, 256, 257, 700, 1500}, true,
                        rng);
    }
}

TEST_F(CudaOps, AttentionOverHalfPrecisionKvPools) {
    for (DType kv_type : {DType::f16, DType::bf16}) {
        for (int head_dim : {16, 64, 128}) {
            SCOPED_TRACE(std::string(dtype_name(kv_type)) + " hd " + std::to_string(head_dim));
            check_attention(*this, *scalar, *cuda, 8, 2, head_dim, {37, 1, 300, 16}, false, rng,
                            kv_type);
            check_attention(*this, *scalar, *cuda, 8, 2, head_dim, {1, 255, 257, 700}, true, rng,
                            kv_type);
        }
        SCOPED_TRACE(std::string(dtype_name(kv_type)) + " hd 24, 3 query heads per KV head");
        check_attention(*this, *scalar, *cuda, 6, 2, 24, {37, 1, 300, 16}, false, rng, kv_type);
    }
}

// Attention writes the 16-bit copy of its output that the next matmul takes (the backend's side
// copy): a matmul of the output gives the same bits as one of the same values uploaded afresh
// (converted by the matmul itself). Split kernel with combine (f32 pool) and fused tensor cores.
TEST_F(CudaOps, AttentionOutputFeedsTheNextMatmulAsConvertedValues) {
    for (const auto& [kv_type, fused_min] :
         {std::pair{DType::f32, INT_MAX}, std::pair{DType::bf16, INT_MAX},
          std::pair{DType::bf16, 0}}) {
        SCOPED_TRACE(std::string(dtype_name(kv_type)) + (fused_min ? "" : " fused"));
        cuda::set_attention_fused_min_blocks(fused_min);
        const int n_heads = 8, n_kv_heads = 2, head_dim = 64;
        MirroredPool pool(n_kv_heads, head_dim, 16, 512, rng, kv_type);
        const std::vector<int> lengths = {300, 37};
        pool.host.assign(lengths, rng);
        if (kv_type == DType::bf16) {  // finite K/V everywhere (the pool's garbage is f32 bits)
            const auto values = random_floats(rng, int64_t(pool.host.data.size() * 2));
            std::vector<uint16_t> bits(values.size());
            for (size_t i = 0; i < bits.size(); ++i) bits[i] = f32_to_bf16(values[i]);
            std::memcpy(pool.host.data.data(), bits.data(), bits.size() * sizeof(uint16_t));
        }
        pool.device = up(pool.host.data);
        test::Batch batch;
        for (int s = 0; s < int(lengths.size()); ++s)
            for (int p = 0; p < lengths[size_t(s)]; ++p) batch.add(s, p);
        const int64_t n = batch.size(), qd = n_heads * head_dim;
        const auto w = random_weights(rng, DType::bf16, 48, qd);
        float* y0 = device_floats(size_t(n * 48));
        cuda->matmul(up(random_floats(rng, size_t(n * qd))), n, w.view, nullptr, y0);  // bf16 seen
        float* out = device_floats(size_t(n * qd));
        cuda->begin_batch(batch.layout(pool.host));
        cuda->attention(up(random_floats(rng, size_t(n * qd))), n_heads, pool.device_view(1),
                        batch.layout(pool.host), out);
        float* y1 = device_floats(size_t(n * 48));
        cuda->matmul(out, n, w.view, nullptr, y1);
        float* y2 = device_floats(size_t(n * 48));
        cuda->matmul(up(down(out, size_t(n * qd))), n, w.view, nullptr, y2);
        EXPECT_EQ(down(y1, size_t(n * 48)), down(y2, size_t(n * 48)));
    }
    cuda::set_attention_fused_min_blocks(-1);
}

// attention.cu's kernel (f32 pools, and f16/bf16 pools of other head sizes) at decode: a block
// per split, then the combine kernel. One token alone at positions of 1, 2 and several splits
// against the scalar backend; the same queries together in one call (rows with different numbers
// of splits), twice in a row with no wait between, give the same bits as alone.
TEST_F(CudaOps, AttentionDecodeAcrossSplitsIsTheSameBitsAloneAndTogether) {
    struct Case {
        DType kv_type;
        int head_dim;
    };
    // Positions length - 1: 1, 1, 1, 2, 3 and 6 splits.
    const std::vector<int> lengths = {1, 200, 256, 257, 513, 1500};
    const int n_heads = 8, n_kv_heads = 2;
    for (const Case c : {Case{DType::f32, 64}, Case{DType::f32, 256}, Case{DType::f32, 24},
                         Case{DType::bf16, 16}}) {
        SCOPED_TRACE(std::string(dtype_name(c.kv_type)) + " hd " + std::to_string(c.head_dim));
        MirroredPool pool(n_kv_heads, c.head_dim, 16, 256, rng, c.kv_type);
        pool.host.assign(lengths, rng);
        if (c.kv_type == DType::bf16) {  // finite K/V everywhere (the pool's garbage is f32 bits)
            const auto values = random_floats(rng, int64_t(pool.host.data.size() * 2));
            std::vector<uint16_t> bits(values.size());
            for (size_t i = 0; i < bits.size(); ++i) bits[i] = f32_to_bf16(values[i]);
            std::memcpy(pool.host.data.data(), bits.data(), bits.size() * sizeof(uint16_t));
        }
        pool.device = up(pool.host.data);
        const int64_t qd = n_heads * c.head_dim;
        const auto q = random_floats(rng, int64_t(lengths.size()) * qd);
        auto row_of = [&](const std::vector<float>& v, size_t s) {
            return std::vector<float>(v.begin() + int64_t(s) * qd, v.begin() + int64_t(s + 1) * qd);
        };
        std::vector<std::vector<float>> alone(lengths.size());
        for (size_t s = 0; s < lengths.size(); ++s) {
            test::Batch one;
            one.add(int32_t(s), lengths[s] - 1);
            const std::vector<float> q1 = row_of(q, s);
            std::vector<float> ref(static_cast<size_t>(qd));
            scalar->attention(q1.data(), n_heads, pool.host.view(1), one.layout(pool.host),
                              ref.data());
            float* in = up(q1);
            float* out = device_floats(size_t(qd));
            cuda->begin_batch(one.layout(pool.host));
            cuda->attention(in, n_heads, pool.device_view(1), one.layout(pool.host), out);
            alone[s] = down(out, size_t(qd));
            EXPECT_LE(max_rel_error(alone[s], ref), 1e-5) << "position " << lengths[s] - 1;
        }
        test::Batch all;
        for (size_t s = 0; s < lengths.size(); ++s) all.add(int32_t(s), lengths[s] - 1);
        float* in = up(q);
        float* out1 = device_floats(q.size());
        float* out2 = device_floats(q.size());
        cuda->begin_batch(all.layout(pool.host));
        cuda->attention(in, n_heads, pool.device_view(1), all.layout(pool.host), out1);
        cuda->attention(in, n_heads, pool.device_view(1), all.layout(pool.host), out2);
        const auto got1 = down(out1, q.size()), got2 = down(out2, q.size());
        for (size_t s = 0; s < lengths.size(); ++s) {
            EXPECT_EQ(row_of(got1, s), alone[s]) << "position " << lengths[s] - 1;
            EXPECT_EQ(row_of(got2, s), alone[s]) << "position " << lengths[s] - 1 << ", again";
        }
    }
}

TEST_F(CudaOps, AttentionOfAQueryIsTheSameBitsInAnyBatch) {
    const int n_heads = 8, n_kv_heads = 2, head_dim = 64;
    MirroredPool pool(n_kv_heads, head_dim, 16, 256, rng);
    pool.host.assign({600, 40, 333}, rng);
    pool.device = up(pool.host.data);
    test::Batch all;
    for (int s = 0; s < 3; ++s)
        for (int p = 0; p < int(pool.host.tables[size_t(s)].size()) * 16 && p < 600; ++p)
            all.add(s, p);
    // Fill the pool on the device with random K/V for every position.
    const auto k = random_floats(rng, all.size() * n_kv_heads * head_dim);
    const auto v = random_floats(rng, all.size() * n_kv_heads * head_dim);
    cuda->begin_batch(all.layout(pool.host));
    cuda->kv_store(up(k), up(v), pool.device_view(0), all.layout(pool.host));
    // Query: sequence 0 at position 450, alone, then inside batches of other tokens.
    const auto q1 = random_floats(rng, n_heads * head_dim);
    auto attend = [&](const test::Batch& b, const std::vector<float>& q, int64_t row) {
        float* out = device_floats(q.size());
        cuda->begin_batch(b.layout(pool.host));
        cuda->attention(up(q), n_heads, pool.device_view(0), b.layout(pool.host), out);
        const auto h = down(out, q.size());
        return std::vector<float>(h.begin() + row * n_heads * head_dim,
                                  h.begin() + (row + 1) * n_heads * head_dim);
    };
    test::Batch alone;
    alone.add(0, 450);
    const auto want = attend(alone, q1, 0);
    for (int trial = 0; trial < 6; ++trial) {
        test::Batch b;
        const int before = int(rng() % 40), after = int(rng() % 40);
        for (int i = 0; i < before; ++i) b.add(int32_t(rng() % 3), int32_t(rng() % 39));
        for (int p = 440; p < 450; ++p) b.add(0, p);  // same sequence, same tile
        const int64_t row = b.size();
        b.add(0, 450);
        for (int i = 0; i < after; ++i) b.add(2, int32_t(rng() % 333));
        auto q = random_floats(rng, b.size() * n_heads * head_dim);
        std::copy(q1.begin(), q1.end(), q.begin() + row * n_heads * head_dim);
        EXPECT_EQ(attend(b, q, row), want) << "trial " << trial;
    }
}

}  // namespace
}  // namespace encore
