// KvPool's budget checks: a budget must hold one block and fit in the machine's memory (an
// engine's automatic budget is capped to fit), and its blocks are usable and independent; the
// count of blocks referenced at once, and engines on a shared backend in pools of that many.
#include "kv/kv_pool.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "engine/engine.h"
#include "model/layer_plan.h"
#include "model/model.h"
#include "model/random_model.h"
#include "scorer_like_run.h"

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

// peak_referenced: the most blocks referenced at once, counting a published block a lookup takes
// back from the evictable list, not a second reference to one already held.
TEST(KvPool, PeakReferencedIsTheMostBlocksHeldAtOnce) {
    const int64_t block_bytes = 2 * 2 * 2 * 16 * 8 * int64_t(sizeof(float));
    KvPool pool(k_shape, 8 * block_bytes);
    EXPECT_EQ(pool.peak_referenced(), 0);
    const int32_t a = pool.allocate(), b = pool.allocate(), c = pool.allocate();
    EXPECT_EQ(pool.peak_referenced(), 3);
    std::vector<int32_t> tokens(16, 9);
    const uint64_t hash = KvPool::chain_hash(0, 1, tokens);
    pool.publish(hash, tokens, a);
    pool.release(a);  // evictable now
    pool.release(b);
    EXPECT_EQ(pool.n_referenced(), 1);
    EXPECT_EQ(pool.lookup(hash, tokens), a);  // referenced again: 2
    pool.retain(c);                           // a second reference: still 2 blocks
    const int32_t d = pool.allocate();
    EXPECT_EQ(pool.n_referenced(), 3);
    EXPECT_EQ(pool.peak_referenced(), 3);
    pool.allocate();
    EXPECT_EQ(pool.peak_referenced(), 4);
    pool.release(d);
    EXPECT_EQ(pool.peak_referenced(), 4);
}

// The sweep's engines (sweep.cpp): one backend shared by engines used in turn, and pools of
// twice the blocks the base's work referenced at most. A pool of exactly that many blocks, for a
// plan of more layer instances, runs the same work to the same bits as the automatic budget;
// one block fewer fails cleanly (the work needs every block it referenced).
TEST(Engine, SharedBackendAndAPoolOfThePeakBlocksGiveTheSameBits) {
    static const auto model =
        Model::load(std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l");
    const int N = model->spec().n_layers;
    EngineOptions opt;
    opt.max_batch_tokens = 40;
    Engine base(model, LayerPlan::identity(N), opt);
    testing::scorer_like_run(base, true);
    const int32_t peak = base.kv().peak_referenced();
    ASSERT_GT(peak, 4);
    ASSERT_LT(peak, base.kv().n_blocks());

    const LayerPlan plan = LayerPlan::rys(3, 9, N);
    Engine fresh(model, plan, opt);
    const testing::ScorerLikeRun expected = testing::scorer_like_run(fresh, true);
    ThreadPool threads(2);
    EngineOptions shared = opt;
    shared.shared_backend = make_backend(opt, threads);
    for (int32_t blocks : {peak, peak - 1}) {
        shared.kv_budget_bytes = int64_t(blocks) * fresh.kv().bytes_per_block();
        Engine engine(model, plan, shared);
        ASSERT_EQ(&engine.backend(), shared.shared_backend.get());
        ASSERT_EQ(engine.kv().n_blocks(), blocks);
        if (blocks < peak) {
            EXPECT_THROW(testing::scorer_like_run(engine, true), Error);
            continue;
        }
        const testing::ScorerLikeRun got = testing::scorer_like_run(engine, true);
        ASSERT_EQ(got.logits.size(), expected.logits.size());
        for (size_t k = 0; k < got.logits.size(); ++k)
            EXPECT_EQ(got.logits[k], expected.logits[k]) << "sequence " << k;
        EXPECT_EQ(engine.kv().peak_referenced(), peak);
    }
    EngineOptions other = opt;
    other.backend = "scalar";
    other.shared_backend = shared.shared_backend;
    try {
        Engine engine(model, plan, other);
        ADD_FAILURE() << "a cpu backend taken for a scalar engine";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("shared backend is 'cpu'"), std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace encore
