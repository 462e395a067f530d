// Stem reuse (engine/stem.h): an RYS plan started at instance J from the base model's captured
// state gives bitwise the same logits as computing every instance, with the cache usable after;
// the same for forked items evaluated in batches through a StemStore.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/error.h"
#include "engine/engine.h"
#include "engine/sequence.h"
#include "engine/stem_store.h"
#include "model/model.h"
#include "scorer_like_run.h"

namespace encore {
namespace {

using testing::same_bits;
using testing::scorer_like_run;
using testing::ScorerLikeRun;

std::shared_ptr<Model> brown() {
    static auto model = Model::load(std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l");
    return model;
}

std::vector<int32_t> some_tokens(int n) {
    std::vector<int32_t> t;
    for (int i = 0; i < n; ++i) t.push_back(int32_t((i * 977 + 13) % 4000 + 2));
    return t;
}

TEST(Stem, RysFromBaseStemIsBitwiseTheFullPass) {
    const auto model = brown();
    const int N = model->spec().n_layers;
    EngineOptions opt;
    opt.max_batch_tokens = 40;  // several chunks: the state is sliced per chunk
    Engine base(model, LayerPlan::identity(N), opt);
    const auto tokens = some_tokens(100);
    StemState state;
    Sequence bseq(base);
    base.eval_stem({&bseq, tokens, Logits::all}, {nullptr, 0, &state});
    ASSERT_EQ(state.n_instances(), N);
    ASSERT_EQ(state.memory_place, "host");
    for (auto [i, j] : {std::pair{4, 8}, {0, 12}, {11, 12}, {2, 3}}) {
        const LayerPlan plan = LayerPlan::rys(i, j, N);
        ASSERT_EQ(state.shared_instances(plan.layers), j);
        Engine full(model, plan, opt), reuse(model, plan, opt);
        Sequence a(full), b(reuse);
        a.prefill(tokens, Logits::all);
        reuse.eval_stem({&b, tokens, Logits::all}, {&state, j, nullptr});
        ASSERT_EQ(a.logits().size(), b.logits().size());
        EXPECT_EQ(0, std::memcmp(a.logits().data(), b.logits().data(), a.logits().size_bytes()))
            << "rys:" << i << "," << j;
        // The stem's KV was stored: decoding on after it matches too.
        const std::vector<int32_t> next{5, 77, 9};
        a.prefill(next, Logits::all);
        b.prefill(next, Logits::all);
        EXPECT_EQ(0, std::memcmp(a.logits().data(), b.logits().data(), a.logits().size_bytes()));
    }
}

TEST(Stem, RejectsAStateOfAnotherStemOrOtherTokens) {
    const auto model = brown();
    const int N = model->spec().n_layers;
    Engine base(model, LayerPlan::identity(N));
    const auto tokens = some_tokens(20);
    StemState state;
    Sequence bseq(base);
    base.eval_stem({&bseq, tokens, Logits::none}, {nullptr, 0, &state});
    Engine skip(model, LayerPlan::parse("0-3,5-11", N));
    Sequence s(skip);
    EXPECT_THROW(skip.eval_stem({&s, tokens, Logits::last}, {&state, 5, nullptr}), Error);
    EXPECT_EQ(s.size(), 0);
    const auto other = some_tokens(21);
    EXPECT_THROW(skip.eval_stem({&s, other, Logits::last}, {&state, 4, nullptr}), Error);
    StemState elsewhere = state;  // as if captured in a GPU's memory
    elsewhere.memory_place = "cuda:0";
    EXPECT_THROW(skip.eval_stem({&s, tokens, Logits::last}, {&elsewhere, 4, nullptr}), Error);
    EXPECT_EQ(s.size(), 0);
    EXPECT_NO_THROW(skip.eval_stem({&s, tokens, Logits::last}, {&state, 4, nullptr}));
}

// At --precision fast, a fast stem gives bitwise the fast full pass; a state computed at the
// other precision is refused.
TEST(Stem, PrecisionOfTheStateMustMatch) {
    const auto model = brown();
    const int N = model->spec().n_layers;
    EngineOptions fast;
    fast.precision = Precision::fast;
    const auto tokens = some_tokens(30);
    StemState fast_state, default_state;
    Engine base_fast(model, LayerPlan::identity(N), fast), base(model, LayerPlan::identity(N));
    Sequence s1(base_fast), s2(base);
    base_fast.eval_stem({&s1, tokens, Logits::none}, {nullptr, 0, &fast_state});
    base.eval_stem({&s2, tokens, Logits::none}, {nullptr, 0, &default_state});
    const LayerPlan plan = LayerPlan::rys(4, 8, N);
    Engine full(model, plan, fast), reuse(model, plan, fast);
    Sequence a(full), b(reuse);
    a.prefill(tokens, Logits::all);
    EXPECT_THROW(reuse.eval_stem({&b, tokens, Logits::all}, {&default_state, 8, nullptr}), Error);
    EXPECT_EQ(b.size(), 0);
    reuse.eval_stem({&b, tokens, Logits::all}, {&fast_state, 8, nullptr});
    ASSERT_EQ(a.logits().size(), b.logits().size());
    EXPECT_EQ(0, std::memcmp(a.logits().data(), b.logits().data(), a.logits().size_bytes()));
}

// The work a Scorer does, through a StemStore: scorer_like_run.h.
TEST(StemStore, ForkedItemsFromTheBaseAreBitwiseTheFullPass) {
    const auto model = brown();
    const int N = model->spec().n_layers;
    EngineOptions opt;
    opt.max_batch_tokens = 24;
    auto store = std::make_shared<StemStore>(int64_t(1) << 30);
    {
        Engine base(model, LayerPlan::identity(N), opt);
        base.set_stem_store(store, StemStoreUse::capture);
        scorer_like_run(base, false);
    }
    // The prefix, 3 forks, the label fork and 3 decoding steps.
    EXPECT_EQ(store->size(), 8u);
    const int64_t n_tokens = 45 + 9 + 14 + 19 + 3 + 3 * 2;
    const int64_t n_context = 0 + 45 + 31 + 17 + 54 + 54 + 45 + 36;
    EXPECT_EQ(store->bytes(),
              StemStore::state_bytes(n_tokens, N, model->spec().n_embd, model->spec().kv_dim()) +
                  4 * (n_tokens + n_context));
    for (const char* spec : {"rys:4,8", "rys:0,12", "rys:11,12", "rys:2,5;7,9", "3-11"}) {
        const LayerPlan plan = LayerPlan::parse(spec, N);
        Engine fresh(model, plan, opt), reuse(model, plan, opt);
        reuse.set_stem_store(store, StemStoreUse::reuse);
        const int64_t hits = store->stats().hits;
        const ScorerLikeRun a = scorer_like_run(fresh, true), b = scorer_like_run(reuse, true);
        EXPECT_EQ(store->stats().hits - hits, 8) << spec;
        EXPECT_TRUE(same_bits(a, b)) << spec;
    }
}

// A store's budget bounds it: a state that does not fit is not kept (counted as refused) and
// the other plans compute that evaluation from instance 0, with the same results.
TEST(StemStore, BudgetRefusesStatesThatDoNotFit) {
    const auto model = brown();
    const int N = model->spec().n_layers;
    const int64_t one_token =
        StemStore::state_bytes(1, N, model->spec().n_embd, model->spec().kv_dim());
    auto store = std::make_shared<StemStore>(46 * one_token);
    {
        Engine base(model, LayerPlan::identity(N));
        base.set_stem_store(store, StemStoreUse::capture);
        scorer_like_run(base, false);
    }
    EXPECT_LE(store->bytes(), store->budget_bytes());
    EXPECT_EQ(store->size(), 1u);  // the prefix of 45 tokens; no fork fits beside it
    EXPECT_GT(store->stats().refused, 0);
    const LayerPlan plan = LayerPlan::rys(4, 8, N);
    Engine fresh(model, plan), reuse(model, plan);
    reuse.set_stem_store(store, StemStoreUse::reuse);
    const ScorerLikeRun a = scorer_like_run(fresh, false), b = scorer_like_run(reuse, false);
    EXPECT_TRUE(same_bits(a, b));
    EXPECT_THROW(StemStore(-1), Error);
}

// States captured over an f32 pool are not used by an engine of an f16 pool (their residuals
// attended over other K/V): it computes from instance 0, with its own results.
TEST(StemStore, StatesOfAnotherKvTypeAreNotUsed) {
    const auto model = brown();
    const int N = model->spec().n_layers;
    auto store = std::make_shared<StemStore>(int64_t(1) << 30);
    {
        Engine base(model, LayerPlan::identity(N));
        base.set_stem_store(store, StemStoreUse::capture);
        scorer_like_run(base, false);
    }
    EngineOptions half;
    half.kv_type = DType::f16;
    const LayerPlan plan = LayerPlan::rys(4, 8, N);
    Engine fresh(model, plan, half), reuse(model, plan, half);
    reuse.set_stem_store(store, StemStoreUse::reuse);
    const ScorerLikeRun a = scorer_like_run(fresh, false), b = scorer_like_run(reuse, false);
    EXPECT_TRUE(same_bits(a, b));
}

// With an f16 (or bf16) KV pool, a stem of that type gives bitwise the full pass of that type,
// decoding on after it too; a state computed over another KV type is refused, naming both.
TEST(Stem, KvTypeOfTheStateMustMatch) {
    const auto model = brown();
    const int N = model->spec().n_layers;
    const auto tokens = some_tokens(50);
    for (DType kv_type : {DType::f16, DType::bf16}) {
        SCOPED_TRACE(dtype_name(kv_type));
        EngineOptions half;
        half.kv_type = kv_type;
        half.max_batch_tokens = 20;
        StemState half_state, f32_state;
        Engine base_half(model, LayerPlan::identity(N), half), base(model, LayerPlan::identity(N));
        Sequence s1(base_half), s2(base);
        base_half.eval_stem({&s1, tokens, Logits::none}, {nullptr, 0, &half_state});
        base.eval_stem({&s2, tokens, Logits::none}, {nullptr, 0, &f32_state});
        EXPECT_EQ(half_state.kv_type, kv_type);
        const LayerPlan plan = LayerPlan::rys(4, 8, N);
        Engine full(model, plan, half), reuse(model, plan, half);
        Sequence a(full), b(reuse);
        a.prefill(tokens, Logits::all);
        try {
            reuse.eval_stem({&b, tokens, Logits::all}, {&f32_state, 8, nullptr});
            ADD_FAILURE() << "a stem state of an f32 pool was used by a " << dtype_name(kv_type)
                          << " engine";
        } catch (const Error& e) {
            const std::string msg = e.what();
            EXPECT_NE(msg.find("--kv-type f32"), std::string::npos) << msg;
            EXPECT_NE(msg.find("--kv-type " + std::string(dtype_name(kv_type))), std::string::npos)
                << msg;
        }
        EXPECT_EQ(b.size(), 0);
        reuse.eval_stem({&b, tokens, Logits::all}, {&half_state, 8, nullptr});
        ASSERT_EQ(a.logits().size(), b.logits().size());
        EXPECT_EQ(0, std::memcmp(a.logits().data(), b.logits().data(), a.logits().size_bytes()));
        const std::vector<int32_t> next{5, 77, 9};
        a.prefill(next, Logits::all);
        b.prefill(next, Logits::all);
        EXPECT_EQ(0, std::memcmp(a.logits().data(), b.logits().data(), a.logits().size_bytes()));
    }
}

TEST(LayerPlanRys, MultiBlock) {
    const LayerPlan p = LayerPlan::parse("rys:2,5;7,9", 12);
    EXPECT_EQ(p.to_spec(), LayerPlan::parse("0-4,2-8,7-11", 12).to_spec());
    EXPECT_THROW(LayerPlan::parse("rys:2,5;1,9", 12), Error);
    EXPECT_THROW(LayerPlan::parse("rys:2,5;7,13", 12), Error);
}

}  // namespace
}  // namespace encore
