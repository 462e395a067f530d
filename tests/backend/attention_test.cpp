// kv_store and paged attention of the optimized backend against the scalar reference and against a
// dense (unpaged) double-precision reference: GQA ratios 1, 4, 8 and MQA, several head sizes and
// block sizes, several sequences per batch with shuffled block tables, sequences split across
// calls; and the bitwise invariance of a token's output to the rest of its batch and to threads.
#include <gtest/gtest.h>

#include <memory>
#include <numeric>

#include "backend/backend.h"
#include "core/error.h"
#include "core/thread_pool.h"
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
    {4, 4, 64, 16},    // MHA
    {8, 2, 64, 16},    // GQA 4
    {16, 2, 32, 8},    // GQA 8
    {8, 1, 64, 32},    // MQA
    {6, 3, 40, 5},     // head_dim not a multiple of the vector width, odd block size
    {12, 4, 128, 16},  // GQA 3, wide heads
};

class AttentionTest : public test::BackendFixture {};

// The K and V of every position of every sequence, dense: [seq][pos][n_kv_heads][head_dim].
DenseKv random_dense_kv(std::mt19937& rng, const std::vector<int>& lengths, const Shape& s) {
    DenseKv d;
    for (int len : lengths) {
        d.k.push_back(random_floats(rng, int64_t(len) * s.n_kv_heads * s.head_dim));
        d.v.push_back(random_floats(rng, int64_t(len) * s.n_kv_heads * s.head_dim));
    }
    return d;
}

TEST_F(AttentionTest, KvStoreThenAttentionMatchesDenseReference) {
    std::mt19937 rng(21);
    for (const Shape& s : k_shapes) {
        SCOPED_TRACE(testing::Message() << "heads " << s.n_heads << "/" << s.n_kv_heads << " hd "
                                        << s.head_dim << " block " << s.block_size);
        const std::vector<int> lengths = {37, 5, 70};
        KvPool pool(s.n_kv_heads, s.head_dim, s.block_size, 64, rng);
        pool.assign(lengths, rng);
        const DenseKv dense = random_dense_kv(rng, lengths, s);
        // Every position of every sequence, interleaved across sequences.
        Batch batch;
        for (int p = 0; p < 70; ++p)
            for (int seq = 0; seq < 3; ++seq)
                if (p < lengths[size_t(seq)]) batch.add(seq, p);
        store_dense(*cpu2, batch, dense, pool, 1, s);
        const std::vector<float> q = random_floats(rng, batch.size() * s.n_heads * s.head_dim);
        std::vector<float> out(q.size());
        cpu2->attention(q.data(), s.n_heads, pool.view(1), batch.layout(pool), out.data());
        const std::vector<float> ref = dense_attention(q, batch, dense, s);
        EXPECT_LT(test::max_rel_error(out, ref), 2e-6);
    }
}

TEST_F(AttentionTest, MatchesScalarBackend) {
    std::mt19937 rng(22);
    for (const Shape& s : k_shapes) {
        SCOPED_TRACE(testing::Message() << "heads " << s.n_heads << "/" << s.n_kv_heads << " hd "
                                        << s.head_dim << " block " << s.block_size);
        const std::vector<int> lengths = {3 * s.block_size + 2, 1, 150};
        KvPool pool(s.n_kv_heads, s.head_dim, s.block_size, 200, rng);
        pool.assign(lengths, rng);
        const DenseKv dense = random_dense_kv(rng, lengths, s);
        Batch all;
        for (int seq = 0; seq < 3; ++seq)
            for (int p = 0; p < lengths[size_t(seq)]; ++p) all.add(seq, p);
        store_dense(*scalar, all, dense, pool, 0, s);
        // Queries: the last token of each sequence and a few in the middle.
        Batch batch;
        batch.add(2, 149);
        batch.add(0, lengths[0] - 1);
        batch.add(1, 0);
        batch.add(2, 64);
        batch.add(0, s.block_size);
        const std::vector<float> q = random_floats(rng, batch.size() * s.n_heads * s.head_dim);
        std::vector<float> ref(q.size()), out(q.size());
        scalar->attention(q.data(), s.n_heads, pool.view(0), batch.layout(pool), ref.data());
        cpu2->attention(q.data(), s.n_heads, pool.view(0), batch.layout(pool), out.data());
        EXPECT_LT(test::rel_error(out, ref), 1e-6);
        EXPECT_LT(test::max_rel_error(out, ref), 2e-6);
    }
}

TEST_F(AttentionTest, KvStoreMatchesScalarAndTouchesOnlyItsSlots) {
    std::mt19937 rng(23);
    const Shape s{8, 2, 64, 16};
    const std::vector<int> lengths = {40, 17};
    KvPool a(s.n_kv_heads, s.head_dim, s.block_size, 16, rng);
    a.assign(lengths, rng);
    KvPool b = a;
    b.table_ptrs.clear();
    for (auto& t : b.tables) b.table_ptrs.push_back(t.data());
    const std::vector<float> before = a.data;
    const DenseKv dense = random_dense_kv(rng, lengths, s);
    Batch batch;
    for (int p = 3; p < 40; p += 2) batch.add(0, p);
    batch.add(1, 16);
    store_dense(*scalar, batch, dense, a, 1, s);
    store_dense(*cpu2, batch, dense, b, 1, s);
    EXPECT_TRUE(test::bitwise_equal(a.data.data(), b.data.data(), a.data.size()));
    // Exactly the slots of the batch's tokens in instance 1 changed.
    const KvLayerView kv = a.view(1);
    std::vector<char> expected(a.data.size(), 0);
    for (int64_t i = 0; i < batch.size(); ++i) {
        const int pos = batch.positions[size_t(i)];
        const int32_t block = a.tables[size_t(batch.seq_index[size_t(i)])][size_t(pos / 16)];
        for (int h = 0; h < s.n_kv_heads; ++h) {
            for (int c = 0; c < s.head_dim; ++c) {
                expected[size_t(kv.k_index(block, h) + (pos % 16) * 64 + c)] = 1;
                expected[size_t(kv.v_index(block, h) + (pos % 16) * 64 + c)] = 1;
            }
        }
    }
    for (size_t i = 0; i < a.data.size(); ++i)
        ASSERT_EQ(a.data[i] != before[i], bool(expected[i])) << i;
}

// A token's output is bitwise the same alone, in any batch, split across calls, on 1 or 2 threads.
TEST_F(AttentionTest, BitwiseInvariantToBatchSplitsAndThreads) {
    std::mt19937 rng(24);
    for (const Shape& s : k_shapes) {
        SCOPED_TRACE(testing::Message() << "heads " << s.n_heads << "/" << s.n_kv_heads << " hd "
                                        << s.head_dim << " block " << s.block_size);
        const std::vector<int> lengths = {45, 23, 150};  // beyond one position block
        KvPool pool(s.n_kv_heads, s.head_dim, s.block_size, 64, rng);
        pool.assign(lengths, rng);
        const DenseKv dense = random_dense_kv(rng, lengths, s);
        const int64_t hd = s.head_dim, row = int64_t(s.n_heads) * hd;

        // Whole batch: all positions of all sequences in one call.
        Batch all;
        for (int seq = 0; seq < 3; ++seq)
            for (int p = 0; p < lengths[size_t(seq)]; ++p) all.add(seq, p);
        const std::vector<float> q = random_floats(rng, all.size() * row);
        store_dense(*cpu2, all, dense, pool, 0, s);
        std::vector<float> whole(q.size());
        cpu2->attention(q.data(), s.n_heads, pool.view(0), all.layout(pool), whole.data());

        // Each token alone on one thread.
        std::vector<float> alone(q.size());
        for (int64_t i = 0; i < all.size(); ++i) {
            Batch one;
            one.add(all.seq_index[size_t(i)], all.positions[size_t(i)]);
            cpu1->attention(q.data() + i * row, s.n_heads, pool.view(0), one.layout(pool),
                            alone.data() + i * row);
        }
        EXPECT_TRUE(test::bitwise_equal(whole.data(), alone.data(), whole.size()));

        // The same tokens in a shuffled order (tiles then mix positions in any order).
        std::vector<int64_t> perm(size_t(all.size()));
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), rng);
        std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) {
            return all.seq_index[size_t(a)] < all.seq_index[size_t(b)];  // keep runs long
        });
        Batch shuffled;
        std::vector<float> q_shuffled(q.size()), out_shuffled(q.size());
        for (size_t j = 0; j < perm.size(); ++j) {
            shuffled.add(all.seq_index[size_t(perm[j])], all.positions[size_t(perm[j])]);
            std::copy(q.begin() + perm[j] * row, q.begin() + (perm[j] + 1) * row,
                      q_shuffled.begin() + int64_t(j) * row);
        }
        cpu2->attention(q_shuffled.data(), s.n_heads, pool.view(0), shuffled.layout(pool),
                        out_shuffled.data());
        for (size_t j = 0; j < perm.size(); ++j)
            ASSERT_TRUE(test::bitwise_equal(out_shuffled.data() + int64_t(j) * row,
                                            whole.data() + perm[j] * row, size_t(row)))
                << j;

        // Sequences prefilled in chunks (kv_store then attention per chunk) on a fresh pool.
        KvPool pool2(s.n_kv_heads, s.head_dim, s.block_size, 64, rng);
        pool2.tables = pool.tables;
        pool2.table_ptrs.clear();
        for (auto& t : pool2.tables) pool2.table_ptrs.push_back(t.data());
        std::vector<float> chunked(q.size());
        int64_t i = 0;
        const int64_t sizes[] = {7, 1, 30, 16, 41, 33};
        for (size_t c = 0; i < all.size(); ++c) {
            const int64_t chunk = std::min(sizes[c % 6], all.size() - i);
            Batch part;
            for (int64_t t = i; t < i + chunk; ++t)
                part.add(all.seq_index[size_t(t)], all.positions[size_t(t)]);
            store_dense(*cpu1, part, dense, pool2, 0, s);
            cpu2->attention(q.data() + i * row, s.n_heads, pool2.view(0), part.layout(pool2),
                            chunked.data() + i * row);
            i += chunk;
        }
        ASSERT_EQ(i, all.size());
        EXPECT_TRUE(test::bitwise_equal(whole.data(), chunked.data(), whole.size()));
    }
}

TEST_F(AttentionTest, RejectsHeadsNotDivisibleByKvHeads) {
    std::mt19937 rng(25);
    KvPool pool(3, 16, 4, 2, rng);
    pool.assign({3}, rng);
    Batch batch;
    batch.add(0, 0);
    std::vector<float> q(4 * 16), out(4 * 16);
    EXPECT_THROW(cpu2->attention(q.data(), 4, pool.view(0), batch.layout(pool), out.data()), Error);
}

}  // namespace
}  // namespace encore
