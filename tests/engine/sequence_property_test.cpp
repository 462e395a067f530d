// Property-based equivalence of the KV-cache API: thousands of random operations (prefill with
// and without logits, truncate, fork, set_tokens with shared and diverging prefixes, free,
// eviction under a tiny budget, failing calls) on the bundled trained model and on random models
// with GQA and repeated layers. After every step, every kept logits row equals a from-scratch
// computation of the same tokens BITWISE (cpu backend), and the pool's accounting is exact; the
// same for f16 and bf16 KV pools against a reference of the same KV type.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <set>

#include "core/error.h"
#include "engine/sequence.h"
#include "model/random_model.h"

namespace encore {
namespace {

std::shared_ptr<Model> bundled_model() {
    static auto model = Model::load(std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l");
    return model;
}

std::shared_ptr<Model> small_random_model(DType dtype) {
    ModelSpec s;
    s.architecture = "llama";
    s.vocab_size = 97;
    s.n_embd = 64;
    s.n_ff = 96;  // not a multiple of 32: exercises kernel tails
    s.n_layers = 3;
    s.n_heads = 4;
    s.n_kv_heads = 2;
    s.head_dim = 16;
    s.rope.theta = 10000;
    return make_random_model(s, dtype, 42);
}

// The device under test: cpu, or the one ENCORE_TEST_DEVICE names (tests/gpu/run.sh runs this
// suite with "cuda", deterministic, where the same bitwise equality must hold).
void apply_test_device(EngineOptions& o) {
    if (const char* device = std::getenv("ENCORE_TEST_DEVICE"); device && *device) {
        o.backend = device;
        o.deterministic = true;
    }
}

// From-scratch logits of `tokens` at every position, on an engine without a prefix cache.
class Reference {
  public:
    Reference(std::shared_ptr<Model> model, const LayerPlan& plan, Precision precision,
              DType kv_type) {
        EngineOptions o;
        o.precision = precision;
        o.kv_type = kv_type;
        o.prefix_cache = false;
        o.kv_budget_bytes = int64_t(64) << 20;  // taken up front: enough for these models
        apply_test_device(o);
        engine_ = std::make_unique<Engine>(model, plan, o);
    }
    std::vector<float> row(const std::vector<int32_t>& tokens, int64_t position) {
        const std::vector<int32_t> key(tokens.begin(), tokens.begin() + position + 1);
        auto it = cache_.find(key);
        if (it == cache_.end()) {
            Sequence seq(*engine_);
            seq.prefill(key, Logits::last);
            const auto l = seq.last_logits();
            it = cache_.emplace(key, std::vector<float>(l.begin(), l.end())).first;
        }
        return it->second;
    }

  private:
    std::unique_ptr<Engine> engine_;
    std::map<std::vector<int32_t>, std::vector<float>> cache_;
};

struct Harness {
    Engine& engine;
    Reference& ref;
    std::mt19937 rng;
    std::vector<std::unique_ptr<Sequence>> seqs;
    int64_t checked_rows = 0, failures_seen = 0;

    int64_t vocab() const { return engine.vocab_size(); }
    std::vector<int32_t> random_tokens(size_t n) {
        std::vector<int32_t> t(n);
        for (auto& x : t) x = int32_t(rng() % uint32_t(vocab()));
        return t;
    }
    Logits random_mode() { return Logits(rng() % 3); }

    void check_sequence(const Sequence& s) {
        ASSERT_EQ(s.logits().size(), s.logit_positions().size() * size_t(vocab()));
        for (int64_t pos : s.logit_positions()) {
            const auto ours = s.logits_at(pos);
            const std::vector<float> want = ref.row(s.tokens(), pos);
            ASSERT_EQ(std::memcmp(ours.data(), want.data(), want.size() * sizeof(float)), 0)
                << "logits at position " << pos << " differ from a from-scratch computation";
            ++checked_rows;
        }
    }

    // Every referenced block is in some live block table, with matching reference counts.
    void check_accounting() {
        std::map<int32_t, int32_t> refs;
        for (const auto& s : seqs)
            for (int32_t b : s->block_table()) ++refs[b];
        for (const auto& [b, n] : refs) ASSERT_EQ(engine.kv().ref_count(b), n) << "block " << b;
        ASSERT_EQ(engine.kv().n_referenced(), int32_t(refs.size()));
        ASSERT_EQ(engine.kv().n_available() + engine.kv().n_referenced(), engine.kv().n_blocks());
    }

    struct Snapshot {
        std::vector<int32_t> tokens, blocks;
        int32_t available;
    };
    Snapshot snapshot(const Sequence& s) {
        return {s.tokens(), s.block_table(), engine.kv().n_available()};
    }
    void expect_unchanged(const Sequence& s, const Snapshot& before) {
        EXPECT_EQ(s.tokens(), before.tokens);
        EXPECT_EQ(s.block_table(), before.blocks);
        EXPECT_EQ(engine.kv().n_available(), before.available);
    }

    Sequence& pick() { return *seqs[rng() % seqs.size()]; }

    void step() {
        if (seqs.empty() || (seqs.size() < 4 && rng() % 8 == 0)) {
            seqs.push_back(std::make_unique<Sequence>(engine));
            return;
        }
        Sequence& s = pick();
        const int op = int(rng() % 9);
        try {
            switch (op) {
                case 0:
                case 1: {  // prefill
                    const auto t = random_tokens(1 + rng() % 40);
                    s.prefill(t, random_mode());
                    break;
                }
                case 2:  // truncate
                    s.truncate(s.size() == 0 ? 0 : int64_t(rng() % uint32_t(s.size() + 1)));
                    break;
                case 3: {  // fork
                    if (seqs.size() < 6) seqs.push_back(s.fork());
                    break;
                }
                case 4:
                case 5: {  // set_tokens sharing a prefix with some sequence, then diverging
                    const Sequence& other = pick();
                    const size_t keep = other.size() == 0 ? 0 : rng() % size_t(other.size() + 1);
                    std::vector<int32_t> all(other.tokens().begin(),
                                             other.tokens().begin() + int64_t(keep));
                    const auto tail = random_tokens(rng() % 20);
                    all.insert(all.end(), tail.begin(), tail.end());
                    if (all.empty()) all = random_tokens(1);
                    s.set_tokens(all, random_mode());
                    break;
                }
                case 6: {  // free (then every call must fail) and drop
                    s.free();
                    EXPECT_THROW(s.prefill(random_tokens(1)), Error);
                    EXPECT_THROW(s.fork(), Error);
                    for (size_t i = 0; i < seqs.size(); ++i)
                        if (seqs[i].get() == &s) seqs.erase(seqs.begin() + int64_t(i));
                    return;
                }
                case 7: {  // bad calls: unchanged state
                    const Snapshot before = snapshot(s);
                    EXPECT_THROW(s.truncate(s.size() + 1), Error);
                    std::vector<int32_t> bad = random_tokens(3);
                    bad[1] = int32_t(vocab());
                    EXPECT_THROW(s.prefill(bad), Error);
                    expect_unchanged(s, before);
                    break;
                }
                case 8: {  // re-score the same tokens: logits must not change
                    if (s.size() == 0) break;
                    s.set_tokens(std::vector<int32_t>(s.tokens()), Logits::last);
                    break;
                }
            }
        } catch (const Error& e) {
            // Only running out of KV blocks is an acceptable failure here.
            ASSERT_EQ(e.kind(), ErrorKind::out_of_memory) << e.what();
            ++failures_seen;
        }
        check_sequence(s);
        check_accounting();
    }
};

void run_property(std::shared_ptr<Model> model, const LayerPlan& plan, int64_t budget_blocks,
                  int n_steps, uint32_t seed, int64_t* rows, int64_t* failures,
                  Precision precision = Precision::standard, DType kv_type = DType::f32) {
    EngineOptions o;
    o.precision = precision;
    o.kv_type = kv_type;
    const int64_t block_bytes =
        int64_t(plan.n_instances()) * 2 * model->spec().kv_dim() * 16 * kv_type_bytes(kv_type);
    o.kv_budget_bytes = budget_blocks * block_bytes;
    apply_test_device(o);
    Engine engine(model, plan, o);
    Reference ref(model, plan, precision, kv_type);
    Harness h{engine, ref, std::mt19937(seed), {}, 0, 0};
    for (int i = 0; i < n_steps && !::testing::Test::HasFatalFailure(); ++i) h.step();
    h.seqs.clear();
    EXPECT_EQ(engine.kv().n_referenced(), 0) << "blocks leaked";
    *rows += h.checked_rows;
    *failures += h.failures_seen;
}

TEST(SequenceProperty, RandomModelsWithGqaAndRepeatedLayers) {
    int64_t rows = 0, failures = 0;
    for (DType dtype : {DType::bf16, DType::f32, DType::q8_0}) {
        const auto model = small_random_model(dtype);
        for (const char* spec : {"0-2", "0-2,1-2", "0,1,1,1,2"}) {
            SCOPED_TRACE(std::string(dtype_name(dtype)) + " plan " + spec);
            run_property(model, LayerPlan::parse(spec, 3), 64, 400, 7, &rows, &failures);
        }
    }
    EXPECT_GT(rows, 1000);
}

// --precision fast on bf16 weights: the same bitwise guarantees.
TEST(SequenceProperty, FastPrecisionOnBf16) {
    int64_t rows = 0, failures = 0;
    const auto model = small_random_model(DType::bf16);
    for (const char* spec : {"0-2", "0,1,1,1,2"}) {
        SCOPED_TRACE(std::string("fast, plan ") + spec);
        run_property(model, LayerPlan::parse(spec, 3), 64, 400, 17, &rows, &failures,
                     Precision::fast);
    }
    EXPECT_GT(rows, 500);
}

// f16 and bf16 KV pools: forks, prefix reuse, set_tokens and eviction give bitwise the logits of
// computing from scratch with the same KV type (the rounding happens once, when a position is
// stored, whichever sequence or call stores it).
TEST(SequenceProperty, HalfPrecisionKvTypes) {
    int64_t rows = 0, failures = 0;
    for (DType kv_type : {DType::f16, DType::bf16}) {
        const auto model = small_random_model(DType::bf16);
        for (const char* spec : {"0-2", "0,1,1,1,2"}) {
            SCOPED_TRACE(std::string("kv ") + std::string(dtype_name(kv_type)) + " plan " + spec);
            run_property(model, LayerPlan::parse(spec, 3), 24, 300, 23, &rows, &failures,
                         Precision::standard, kv_type);
        }
    }
    EXPECT_GT(failures, 0) << "the budget never ran out: eviction is not covered";
    EXPECT_GT(rows, 500);
    SCOPED_TRACE("bundled model, kv f16");
    run_property(bundled_model(), LayerPlan::parse("rys:4,8", 12), 48, 100, 29, &rows, &failures,
                 Precision::standard, DType::f16);
}

TEST(SequenceProperty, EvictionUnderATinyBudget) {
    int64_t rows = 0, failures = 0;
    const auto model = small_random_model(DType::bf16);
    run_property(model, LayerPlan::parse("0-2,1-2", 3), 12, 600, 11, &rows, &failures);
    EXPECT_GT(failures, 0) << "the budget never ran out: the test does not cover failures";
    EXPECT_GT(rows, 100);
}

TEST(SequenceProperty, BundledTrainedModel) {
    int64_t rows = 0, failures = 0;
    const auto model = bundled_model();
    run_property(model, LayerPlan::parse("rys:4,8", 12), 48, 150, 3, &rows, &failures);
    EXPECT_GT(rows, 100);
}

class Batch : public ::testing::TestWithParam<DType> {};

// For every KV storage type.
TEST_P(Batch, LogitsDoNotDependOnBatchCompositionOrHistory) {
    const auto model = bundled_model();
    EngineOptions options;
    options.kv_type = GetParam();
    Engine engine(model, LayerPlan::identity(12), options);
    std::mt19937 rng(5);
    auto tokens = [&](size_t n) {
        std::vector<int32_t> t(n);
        for (auto& x : t) x = int32_t(rng() % 4096);
        return t;
    };
    const auto prefix = tokens(37);
    const std::vector<std::vector<int32_t>> items = {tokens(5), tokens(19), tokens(1), tokens(33)};

    // One by one, each from a fresh fork of the prefix.
    Sequence base(engine);
    base.prefill(prefix, Logits::none);
    std::vector<std::vector<float>> alone;
    for (const auto& item : items) {
        auto s = base.fork();
        s->prefill(item, Logits::all);
        alone.emplace_back(s->logits().begin(), s->logits().end());
    }
    // All together in one batch, in reverse order, next to an unrelated sequence.
    std::vector<std::unique_ptr<Sequence>> forks;
    Sequence unrelated(engine);
    const auto other = tokens(50);
    std::vector<EvalItem> batch{{&unrelated, other, Logits::all}};
    for (size_t i = items.size(); i-- > 0;) {
        forks.push_back(base.fork());
        batch.push_back({forks.back().get(), items[i], Logits::all});
    }
    engine.eval(batch);
    for (size_t i = 0; i < items.size(); ++i) {
        const auto got = forks[items.size() - 1 - i]->logits();
        ASSERT_EQ(got.size(), alone[i].size());
        EXPECT_EQ(std::memcmp(got.data(), alone[i].data(), got.size() * sizeof(float)), 0)
            << "item " << i << " differs between batched and one-by-one evaluation";
    }
    // History: evaluating other things first changes nothing.
    Sequence again(engine);
    again.prefill(prefix, Logits::none);
    again.prefill(items[1], Logits::all);
    EXPECT_EQ(std::memcmp(again.logits().data(), alone[1].data(), alone[1].size() * sizeof(float)),
              0);
    EXPECT_GT(engine.kv().stats().hits, 0) << "the second prefix was not reused";
}

INSTANTIATE_TEST_SUITE_P(KvTypes, Batch, ::testing::Values(DType::f32, DType::f16, DType::bf16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace encore
