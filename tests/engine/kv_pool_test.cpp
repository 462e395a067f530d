// KvPool's budget checks: a budget must hold one block and fit in the machine's memory (an
// engine's automatic budget is capped to fit), and its blocks are usable and independent.
#include "kv/kv_pool.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "engine/engine.h"
#include "model/layer_plan.h"
#include "model/random_model.h"

namespace encore {
namespace {

const KvShape k_shape{.n_instances = 2, .n_kv_heads = 2, .head_dim = 8, .block_size = 16};

ErrorKind kind_of_failure(int64_t budget, std::string& message) {
    try {
        KvPool pool(k_shape, budget);
    } catch (const Error& e) {
        message = e.what();
        return e.kind();
    }
    return ErrorKind::internal;
}

TEST(KvPool, BudgetBelowOneBlockIsRefused) {
    const int64_t block = 2 * 2 * 2 * 16 * 8 * int64_t(sizeof(float));
    std::string message;
    EXPECT_EQ(kind_of_failure(block - 1, message), ErrorKind::out_of_memory);
    EXPECT_NE(message.find("smaller than one block"), std::string::npos) << message;
    KvPool pool(k_shape, block);
    EXPECT_EQ(pool.n_blocks(), 1);
}

TEST(KvPool, BudgetAboveTheMachinesMemoryIsRefused) {
    const int64_t memory = KvPool::machine_memory_bytes();
    ASSERT_GT(memory, 0);
    std::string message;
    EXPECT_EQ(kind_of_failure(2 * memory, message), ErrorKind::out_of_memory);
    EXPECT_NE(message.find("more than this machine's memory"), std::string::npos) << message;
}

TEST(KvPool, BlocksAreWritableAndIndependent) {
    KvPool pool(k_shape, 8 * 2 * 2 * 2 * 16 * 8 * int64_t(sizeof(float)));
    ASSERT_EQ(pool.n_blocks(), 8);
    const int64_t floats = pool.bytes_per_block() / int64_t(sizeof(float));
    for (int32_t b = 0; b < pool.n_blocks(); ++b)
        for (int64_t i = 0; i < floats; ++i)
            static_cast<float*>(pool.block_data(b))[i] = float(b * 1000 + i);
    for (int32_t b = 0; b < pool.n_blocks(); ++b)
        for (int64_t i = 0; i < floats; ++i)
            ASSERT_EQ(static_cast<float*>(pool.block_data(b))[i], float(b * 1000 + i));
}

// A model whose max_position asks for more KV than the machine has still gets an engine: the
// automatic budget is capped at half the machine's memory (an explicit one would be refused).
TEST(KvPool, AutomaticBudgetFitsTheMachine) {
    ModelSpec s;
    s.architecture = "llama";
    s.vocab_size = 64;
    s.n_embd = 32;
    s.n_ff = 64;
    s.n_layers = 2;
    s.n_heads = 4;
    s.n_kv_heads = 2;
    s.head_dim = 8;
    s.rope.theta = 10000;
    s.max_position = int64_t(1) << 34;  // 256 B of KV per position: 4 TiB
    auto model = make_random_model(s, DType::f32, 3);
    Engine engine(model, LayerPlan::parse("", 2), EngineOptions{});
    const int64_t memory = KvPool::machine_memory_bytes();
    const KvPool& pool = engine.kv();
    EXPECT_LE(int64_t(pool.n_blocks()) * pool.bytes_per_block(), memory / 2);
    EXPECT_GT(pool.n_blocks(), 0);
}

// lookup() counts a hit or a miss; pin() holds the same block without counting, for a caller
// whose prefill looks the block up (and counts it) right after.
TEST(KvPool, PinHoldsAPublishedBlockWithoutCountingALookup) {
    const int64_t block_bytes = 2 * 2 * 2 * 16 * 8 * int64_t(sizeof(float));
    KvPool pool(k_shape, 4 * block_bytes);
    std::vector<int32_t> tokens(16);
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t(i * 7);
    const uint64_t hash = KvPool::chain_hash(0, 42, tokens);
    const int32_t b = pool.allocate();
    pool.publish(hash, tokens, b);
    std::vector<int32_t> other = tokens;
    other[3] = 1000;
    EXPECT_EQ(pool.pin(hash, tokens), b);
    EXPECT_EQ(pool.pin(hash, other), -1);
    EXPECT_EQ(pool.ref_count(b), 2);
    EXPECT_EQ(pool.stats().hits, 0);
    EXPECT_EQ(pool.stats().misses, 0);
    EXPECT_EQ(pool.lookup(hash, tokens), b);
    EXPECT_EQ(pool.lookup(hash, other), -1);
    EXPECT_EQ(pool.stats().hits, 1);
    EXPECT_EQ(pool.stats().misses, 1);
}

}  // namespace
}  // namespace encore
