// The tensor-core attention kernel (src/backend/cuda/attention_mma.cu: pools stored in f16 or
// bf16, head_dim 64 or 128) against the scalar CPU backend, and its two ways of combining splits
// (the split path, a block per split and a second kernel that combines them; the fused path, a
// block walking every split) against each other, bitwise (tests/gpu/run.sh runs this on a GPU;
// without one every test is skipped).
//
// The reference attends over the same pool values (the f32 pool rounded to the 16-bit type), so
// what differs is the kernel's own rounding of Q and of the softmax weights P to that type before
// the tensor cores (f32 accumulation). Tolerance, as the largest absolute error over outputs of
// random N(0, 1) queries, keys and values: bf16 1e-2 (8 significant bits: two roundings of
// 2^-9 each, on scores of standard deviation 1 and values up to about 4), f16 2e-3 (11 bits).
#ifdef ENCORE_HAVE_CUDA

#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <random>

#include "../backend/test_util.h"
#include "backend/backend.h"
#include "backend/cuda/kernels.h"
#include "core/dtype.h"

namespace encore {
namespace {

using test::random_floats;

class CudaAttentionMma : public ::testing::Test {
  public:
    void SetUp() override {
        std::string why;
        if (!cuda_available(&why)) GTEST_SKIP() << "no GPU: " << why;
        cuda = make_cuda_backend({});
    }
    void TearDown() override {
        cuda::set_attention_fused_min_blocks(-1);
        for (void* p : owned) cuda->deallocate(p);
    }
    void* up_bytes(const void* host, size_t bytes) {
        void* p = cuda->allocate(bytes);
        cuda->from_host(p, host, bytes);
        owned.push_back(p);
        return p;
    }
    float* up(const std::vector<float>& host) {
        return static_cast<float*>(up_bytes(host.data(), host.size() * sizeof(float)));
    }
    std::vector<float> down(const float* p, size_t n) {
        std::vector<float> host(n);
        cuda->to_host(host.data(), p, n * sizeof(float));
        return host;
    }

    std::unique_ptr<Backend> scalar = make_scalar_backend();
    std::unique_ptr<Backend> cuda;
    std::vector<void*> owned;
    std::mt19937 rng{4321};
};

// A pool filled with random K/V at every position of `lengths`, rounded to `type`: the host
// copy in f32 (for the scalar backend) and the device copy in `type`.
struct RoundedPool {
    test::KvPool host;
    void* device = nullptr;
    DType type;
    RoundedPool(CudaAttentionMma& t, DType type_, int n_kv_heads, int head_dim,
                const std::vector<int>& lengths, std::mt19937& rng)
        : host(n_kv_heads, head_dim, 16, 512, rng), type(type_) {
        host.assign(lengths, rng);
        std::vector<uint16_t> bits(host.data.size());
        for (size_t i = 0; i < bits.size(); ++i) {
            bits[i] = type == DType::bf16 ? f32_to_bf16(host.data[i]) : f32_to_f16(host.data[i]);
            host.data[i] = type == DType::bf16 ? bf16_to_f32(bits[i]) : f16_to_f32(bits[i]);
        }
        device = t.up_bytes(bits.data(), bits.size() * sizeof(uint16_t));
    }
    KvLayerView device_view() const {
        KvLayerView v = host.view(1);
        v.pool = static_cast<float*>(device);
        v.type = type;
        return v;
    }
};

// Every token of `lengths` (prefill), or the last token of each (decode), attends.
test::Batch make_batch(const std::vector<int>& lengths, bool decode) {
    test::Batch b;
    for (int s = 0; s < int(lengths.size()); ++s)
        for (int p = decode ? lengths[size_t(s)] - 1 : 0; p < lengths[size_t(s)]; ++p) b.add(s, p);
    return b;
}

double max_abs_error(const std::vector<float>& got, const std::vector<float>& want) {
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double e = std::fabs(double(got[i]) - double(want[i]));
        if (!(e <= worst)) worst = e;  // NaN wins
    }
    return worst;
}

TEST_F(CudaAttentionMma, MatchesTheScalarBackend) {
    struct Shape {
        int n_heads, n_kv_heads, head_dim;
    };
    for (DType type : {DType::bf16, DType::f16})
        for (const Shape s :
             {Shape{32, 8, 128}, Shape{8, 2, 64}, Shape{4, 4, 128}, Shape{16, 1, 64}})
            for (bool decode : {false, true}) {
                SCOPED_TRACE(std::string(dtype_name(type)) + " " + std::to_string(s.n_heads) + "/" +
                             std::to_string(s.n_kv_heads) + " hd " + std::to_string(s.head_dim) +
                             (decode ? " decode" : " prefill"));
                const std::vector<int> lengths = decode
                                                     ? std::vector<int>{1, 255, 256, 257, 700, 1500}
                                                     : std::vector<int>{37, 1, 300, 16, 530};
                RoundedPool pool(*this, type, s.n_kv_heads, s.head_dim, lengths, rng);
                const test::Batch batch = make_batch(lengths, decode);
                const auto q = random_floats(rng, batch.size() * s.n_heads * s.head_dim);
                std::vector<float> ref(q.size());
                scalar->attention(q.data(), s.n_heads, pool.host.view(1), batch.layout(pool.host),
                                  ref.data());
                for (int fused_min : {INT_MAX, 0}) {  // split path; fused
                    cuda::set_attention_fused_min_blocks(fused_min);
                    float* out = up(std::vector<float>(q.size(), NAN));
                    cuda->begin_batch(batch.layout(pool.host));
                    cuda->attention(up(q), s.n_heads, pool.device_view(), batch.layout(pool.host),
                                    out);
                    const double err = max_abs_error(down(out, q.size()), ref);
                    RecordProperty(std::string(dtype_name(type)) + "_max_abs_error",
                                   std::to_string(err));
                    EXPECT_LE(err, type == DType::bf16 ? 1e-2 : 2e-3) << "fused_min " << fused_min;
                }
            }
}

// A query's output is the same bits alone (one tile: the split path) and inside larger batches
// combined in the blocks (fused).
TEST_F(CudaAttentionMma, AQueryIsTheSameBitsAloneAndInAFusedBatch) {
    const int n_heads = 32, n_kv_heads = 8, head_dim = 128;
    for (DType type : {DType::bf16, DType::f16}) {
        SCOPED_TRACE(std::string(dtype_name(type)));
        RoundedPool pool(*this, type, n_kv_heads, head_dim, {900, 40, 333}, rng);
        const auto q1 = random_floats(rng, n_heads * head_dim);
        auto attend = [&](const test::Batch& b, const std::vector<float>& q, int64_t row) {
            float* out = up(std::vector<float>(q.size(), NAN));
            cuda->begin_batch(b.layout(pool.host));
            cuda->attention(up(q), n_heads, pool.device_view(), b.layout(pool.host), out);
            const auto h = down(out, q.size());
            return std::vector<float>(h.begin() + row * n_heads * head_dim,
                                      h.begin() + (row + 1) * n_heads * head_dim);
        };
        cuda::set_attention_fused_min_blocks(INT_MAX);
        test::Batch alone;
        alone.add(0, 777);
        const auto want = attend(alone, q1, 0);
        cuda::set_attention_fused_min_blocks(0);
        for (int trial = 0; trial < 4; ++trial) {
            test::Batch b;
            const int before = int(rng() % 40), after = int(rng() % 40);
            for (int i = 0; i < before; ++i) b.add(int32_t(rng() % 3), int32_t(rng() % 39));
            for (int p = 777 - trial * 5; p < 777; ++p) b.add(0, p);  // same sequence, same tile
            const int64_t row = b.size();
            b.add(0, 777);
            for (int i = 0; i < after; ++i) b.add(2, int32_t(rng() % 333));
            auto q = random_floats(rng, b.size() * n_heads * head_dim);
            std::copy(q1.begin(), q1.end(), q.begin() + row * n_heads * head_dim);
            EXPECT_EQ(attend(b, q, row), want) << "trial " << trial;
        }
        // The query's warp-mates at lower positions: chunks it sees whole take the masked path
        // in this batch (they reach past the warp's lowest position) and the unmasked one alone.
        for (bool fused : {false, true}) {
            cuda::set_attention_fused_min_blocks(fused ? 0 : INT_MAX);
            test::Batch b;
            for (int p : {600, 650, 700}) b.add(0, p);
            const int64_t row = b.size();
            b.add(0, 777);
            auto q = random_floats(rng, b.size() * n_heads * head_dim);
            std::copy(q1.begin(), q1.end(), q.begin() + row * n_heads * head_dim);
            EXPECT_EQ(attend(b, q, row), want) << (fused ? "fused" : "split path");
        }
    }
}

// The split path (a block per split, then the combine kernel) gives the fused path's bits: one
// decode token alone at positions of 1, 2 and several splits, the decode tokens of several
// sequences in one call (rows with different numbers of splits), and a prefill of several tiles
// whose rows straddle split boundaries. Each call is made twice in a row with no wait between
// (the second reuses the first's scratch), and the scratch grows between batches of more tiles
// and is reused by batches of fewer.
TEST_F(CudaAttentionMma, TheSplitPathGivesTheFusedBitsInEveryBatch) {
    struct Shape {
        int n_heads, n_kv_heads, head_dim;
    };
    // Positions length - 1: 1, 1, 1, 2, 2, 3, 4 and 6 splits.
    const std::vector<int> lengths = {1, 200, 256, 257, 512, 513, 777, 1500};
    for (DType type : {DType::bf16, DType::f16})
        for (const Shape s : {Shape{32, 8, 128}, Shape{8, 2, 64}}) {
            SCOPED_TRACE(std::string(dtype_name(type)) + " " + std::to_string(s.n_heads) + "/" +
                         std::to_string(s.n_kv_heads) + " hd " + std::to_string(s.head_dim));
            RoundedPool pool(*this, type, s.n_kv_heads, s.head_dim, lengths, rng);
            std::vector<std::pair<std::string, test::Batch>> batches;
            for (int i = 0; i < int(lengths.size()); ++i) {
                test::Batch one;
                one.add(i, lengths[size_t(i)] - 1);
                batches.emplace_back("alone at " + std::to_string(lengths[size_t(i)] - 1), one);
            }
            batches.emplace_back("decode of every sequence", make_batch(lengths, true));
            test::Batch prefill;  // 300 tokens of sequence 7 across 1280, 40 of 3 across 256
            for (int p = 1200; p < 1500; ++p) prefill.add(7, p);
            for (int p = 217; p < 257; ++p) prefill.add(3, p);
            batches.emplace_back("prefill", prefill);
            const test::Batch again = batches[6].second;
            batches.emplace_back("alone at 776, after larger batches", again);
            for (const auto& entry : batches) {
                SCOPED_TRACE(entry.first);
                const test::Batch& b = entry.second;
                const size_t n = size_t(b.size() * s.n_heads * s.head_dim);
                const auto q1 = random_floats(rng, int64_t(n)), q2 = random_floats(rng, int64_t(n));
                auto attend_twice = [&](bool fused) {
                    cuda::set_attention_fused_min_blocks(fused ? 0 : INT_MAX);
                    float* in1 = up(q1);
                    float* in2 = up(q2);
                    float* out1 = up(std::vector<float>(n, NAN));
                    float* out2 = up(std::vector<float>(n, NAN));
                    cuda->begin_batch(b.layout(pool.host));
                    cuda->attention(in1, s.n_heads, pool.device_view(), b.layout(pool.host), out1);
                    cuda->attention(in2, s.n_heads, pool.device_view(), b.layout(pool.host), out2);
                    return std::pair{down(out1, n), down(out2, n)};
                };
                const auto split = attend_twice(false), fused = attend_twice(true);
                EXPECT_EQ(split.first, fused.first) << "first launch";
                EXPECT_EQ(split.second, fused.second) << "second launch";
                if (b.size() > int64_t(lengths.size())) continue;  // the prefill: bits only
                std::vector<float> ref(n);
                scalar->attention(q2.data(), s.n_heads, pool.host.view(1), b.layout(pool.host),
                                  ref.data());
                EXPECT_LE(max_abs_error(split.second, ref), type == DType::bf16 ? 1e-2 : 2e-3);
            }
        }
}

}  // namespace
}  // namespace encore

#endif  // ENCORE_HAVE_CUDA
