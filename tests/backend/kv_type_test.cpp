// kv_store and paged attention over f16 and bf16 KV pools (the f32 pool is attention_test.cpp's):
// - kv_store rounds to nearest even exactly as core/dtype.h does (f32_to_f16 / f32_to_bf16), the
//   same bits on the scalar reference and on the SIMD backend (1 and 2 threads), and writes only
//   the batch's slots;
// - attention of the SIMD backend against the scalar reference over the same rounded pool: the
//   bound of the f32 pool (both widen the stored values exactly; only the summation order
//   differs), and against a dense double-precision reference fed the rounded K/V;
// - a token's output stays bitwise the same alone, in any batch, split across calls, on 1 or 2
//   threads.
#include <gtest/gtest.h>

#include <cstring>

#include "backend/backend.h"
#include "core/dtype.h"
#include "dense_kv.h"
#include "test_util.h"

namespace encore {
namespace {

using test::Batch;
using test::dense_attention;
using test::DenseKv;
using test::KvPool;
using test::random_floats;
using test::store_dense;

struct Shape {
    int n_heads, n_kv_heads, head_dim, block_size;
};

const Shape k_shapes[] = {
    {8, 2, 64, 16},    // GQA 4, the vector path (head_dim and block size multiples of 16)
    {8, 1, 64, 32},    // MQA
    {6, 3, 40, 5},     // head_dim not a multiple of the vector width, odd block size
    {12, 4, 128, 16},  // GQA 3, wide heads
};

const DType k_types[] = {DType::f16, DType::bf16};

std::string describe(DType type, const Shape& s) {
    return std::string(dtype_name(type)) + " heads " + std::to_string(s.n_heads) + "/" +
           std::to_string(s.n_kv_heads) + " hd " + std::to_string(s.head_dim) + " block " +
           std::to_string(s.block_size);
}

// x rounded to the storage type and back: what the pool holds of it.
float rounded(DType type, float x) {
    return type == DType::f16 ? f16_to_f32(f32_to_f16(x)) : bf16_to_f32(f32_to_bf16(x));
}

class KvTypeTest : public test::BackendFixture {};

DenseKv random_dense_kv(std::mt19937& rng, const std::vector<int>& lengths, const Shape& s) {
    DenseKv d;
    for (int len : lengths) {
        // Values over several binades, so that rounding is exercised at many exponents.
        auto k = random_floats(rng, int64_t(len) * s.n_kv_heads * s.head_dim, 3.0f);
        auto v = random_floats(rng, int64_t(len) * s.n_kv_heads * s.head_dim, 3.0f);
        for (size_t i = 0; i < k.size(); i += 7) k[i] *= 1e-3f, v[i] *= 1e-3f;
        d.k.push_back(std::move(k));
        d.v.push_back(std::move(v));
    }
    return d;
}

TEST_F(KvTypeTest, KvStoreRoundsToNearestEvenOnEveryBackendAndTouchesOnlyItsSlots) {
    std::mt19937 rng(31);
    for (DType type : k_types) {
        for (const Shape& s : k_shapes) {
            SCOPED_TRACE(describe(type, s));
            const std::vector<int> lengths = {40, 17};
            KvPool a(s.n_kv_heads, s.head_dim, s.block_size, 16, rng, type);
            a.assign(lengths, rng);
            KvPool b = a, c = a;
            for (KvPool* p : {&b, &c}) {
                p->table_ptrs.clear();
                for (auto& t : p->tables) p->table_ptrs.push_back(t.data());
            }
            const std::vector<float> before = a.data;
            const DenseKv dense = random_dense_kv(rng, lengths, s);
            Batch batch;
            for (int p = 3; p < 40; p += 2) batch.add(0, p);
            batch.add(1, 16);
            batch.add(1, 0);
            store_dense(*scalar, batch, dense, a, 1, s);
            store_dense(*cpu1, batch, dense, b, 1, s);
            store_dense(*cpu2, batch, dense, c, 1, s);
            EXPECT_EQ(std::memcmp(a.data.data(), b.data.data(), a.data.size() * 4), 0);
            EXPECT_EQ(std::memcmp(a.data.data(), c.data.data(), a.data.size() * 4), 0);
            // Each slot of the batch holds its value rounded; nothing else changed.
            const KvLayerView kv = a.view(1);
            const int64_t n_elems = int64_t(a.data.size()) * 2;
            std::vector<char> written(size_t(n_elems), 0);
            const int hd = s.head_dim;
            for (int64_t i = 0; i < batch.size(); ++i) {
                const int seq = batch.seq_index[size_t(i)], pos = batch.positions[size_t(i)];
                const int32_t block = a.tables[size_t(seq)][size_t(pos / s.block_size)];
                for (int h = 0; h < s.n_kv_heads; ++h)
                    for (int e = 0; e < hd; ++e) {
                        const int64_t slot = (pos % s.block_size) * hd + e;
                        const size_t src = size_t((int64_t(pos) * s.n_kv_heads + h) * hd + e);
                        const int64_t ki = kv.k_index(block, h) + slot;
                        const int64_t vi = kv.v_index(block, h) + slot;
                        ASSERT_EQ(a.element(ki), rounded(type, dense.k[size_t(seq)][src]));
                        ASSERT_EQ(a.element(vi), rounded(type, dense.v[size_t(seq)][src]));
                        written[size_t(ki)] = written[size_t(vi)] = 1;
                    }
            }
            const auto* now = reinterpret_cast<const uint16_t*>(a.data.data());
            const auto* old = reinterpret_cast<const uint16_t*>(before.data());
            for (int64_t i = 0; i < n_elems; ++i) {
                if (!written[size_t(i)]) {
                    ASSERT_EQ(now[i], old[i]) << "element " << i;
                }
            }
        }
    }
}

TEST_F(KvTypeTest, AttentionMatchesScalarAndDenseReferenceOnTheRoundedValues) {
    std::mt19937 rng(32);
    for (DType type : k_types) {
        for (const Shape& s : k_shapes) {
            SCOPED_TRACE(describe(type, s));
            const std::vector<int> lengths = {3 * s.block_size + 2, 1, 150};
            KvPool pool(s.n_kv_heads, s.head_dim, s.block_size, 200, rng, type);
            pool.assign(lengths, rng);
            const DenseKv dense = random_dense_kv(rng, lengths, s);
            Batch all;
            for (int seq = 0; seq < 3; ++seq)
                for (int p = 0; p < lengths[size_t(seq)]; ++p) all.add(seq, p);
            store_dense(*cpu2, all, dense, pool, 0, s);
            Batch batch;
            batch.add(2, 149);
            batch.add(0, lengths[0] - 1);
            batch.add(1, 0);
            batch.add(2, 64);
            batch.add(0, s.block_size);
            const auto q = random_floats(rng, batch.size() * s.n_heads * s.head_dim);
            std::vector<float> ref(q.size()), out(q.size());
            scalar->attention(q.data(), s.n_heads, pool.view(0), batch.layout(pool), ref.data());
            cpu2->attention(q.data(), s.n_heads, pool.view(0), batch.layout(pool), out.data());
            // The bounds of the f32 pool (attention_test.cpp): the same rounded inputs.
            EXPECT_LT(test::rel_error(out, ref), 1e-6);
            EXPECT_LT(test::max_rel_error(out, ref), 2e-6);
            EXPECT_LT(test::max_rel_error(
                          out, dense_attention(q, batch, dense, s,
                                               [type](float x) { return rounded(type, x); })),
                      2e-6);
        }
    }
}

TEST_F(KvTypeTest, BitwiseInvariantToBatchSplitsAndThreads) {
    std::mt19937 rng(33);
    for (DType type : k_types) {
        for (const Shape& s : k_shapes) {
            SCOPED_TRACE(describe(type, s));
            const std::vector<int> lengths = {90, 33};
            KvPool pool(s.n_kv_heads, s.head_dim, s.block_size, 64, rng, type);
            pool.assign(lengths, rng);
            const DenseKv dense = random_dense_kv(rng, lengths, s);
            Batch all;
            for (int seq = 0; seq < 2; ++seq)
                for (int p = 0; p < lengths[size_t(seq)]; ++p) all.add(seq, p);
            store_dense(*cpu2, all, dense, pool, 0, s);
            const int64_t row = int64_t(s.n_heads) * s.head_dim;
            const auto q = random_floats(rng, all.size() * row);
            std::vector<float> whole(q.size());
            cpu2->attention(q.data(), s.n_heads, pool.view(0), all.layout(pool), whole.data());
            // Each token alone, on one thread.
            for (int64_t i = 0; i < all.size(); i += 7) {
                Batch one;
                one.add(all.seq_index[size_t(i)], all.positions[size_t(i)]);
                std::vector<float> out(static_cast<size_t>(row));
                cpu1->attention(q.data() + i * row, s.n_heads, pool.view(0), one.layout(pool),
                                out.data());
                ASSERT_TRUE(test::bitwise_equal(out.data(), whole.data() + i * row, size_t(row)))
                    << "token " << i;
            }
        }
    }
}

}  // namespace
}  // namespace encore
