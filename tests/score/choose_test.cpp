// Multiple choice: each choice's summed log-likelihood equals the naive computation (context +
// choice in a fresh sequence) within 1e-5 and is bitwise the same alone and in a batch; argmax by
// sum and per byte; bad records name the record and field; stem reuse through a StemStore gives
// bitwise the same log-likelihoods.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "engine/engine.h"
#include "model/model.h"
#include "score/choose.h"
#include "score/scorer.h"
#include "tokenizer/tokenizer.h"

namespace encore {
namespace {

using Json = nlohmann::ordered_json;

TEST(Choose, EqualsNaiveAndIsBatchInvariant) {
    auto model = Model::load(std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l");
    Engine engine(model, LayerPlan::identity(model->spec().n_layers));
    const Tokenizer& tok = model->tokenizer();
    const std::vector<Json> records = {
        {{"id", "q1"},
         {"context", "The jury said the election was"},
         {"choices", {" conducted fairly", " a purple elephant", " the"}},
         {"gold", 0}},
        {{"context", "It was a fine day for the "}, {"choices", {"county", "xylophone quartz"}}},
    };
    std::vector<ChoiceItem> items;
    for (size_t i = 0; i < records.size(); ++i)
        items.push_back(
            prepare_choice(tok, records[i], int64_t(i + 1), model->spec().max_position));
    EXPECT_EQ(items[1].id, 2);  // no id: the record number
    const auto batch = choose_batch(engine, items);
    EngineOptions o;
    o.prefix_cache = false;
    Engine naive(model, LayerPlan::identity(model->spec().n_layers), o);
    for (size_t i = 0; i < items.size(); ++i) {
        std::vector<CompiledLabel> labels;
        for (const auto& c : items[i].choices) labels.push_back({"", 0, c});
        const auto ref = naive_label_logprobs(naive, items[i].context, labels);
        for (size_t c = 0; c < ref.size(); ++c) EXPECT_NEAR(batch[i].logliks[c], ref[c], 1e-5);
        const auto alone = choose_batch(engine, std::span(&items[i], 1));
        EXPECT_EQ(0, std::memcmp(alone[0].logliks.data(), batch[i].logliks.data(),
                                 ref.size() * sizeof(double)));
        int64_t best = 0, best_norm = 0;
        for (size_t c = 1; c < ref.size(); ++c) {
            if (batch[i].logliks[c] > batch[i].logliks[size_t(best)]) best = int64_t(c);
            if (batch[i].logliks[c] / double(batch[i].n_bytes[c]) >
                batch[i].logliks[size_t(best_norm)] / double(batch[i].n_bytes[size_t(best_norm)]))
                best_norm = int64_t(c);
        }
        EXPECT_EQ(batch[i].argmax, best);
        EXPECT_EQ(batch[i].argmax_norm, best_norm);
    }
    EXPECT_GT(items[0].choices[1].size(), 1u);
    EXPECT_EQ(batch[0].n_bytes[1], 18);
}

// Stem reuse through a StemStore: contexts and choice forks captured on the unmodified model,
// reused on RYS plans, give bitwise the log-likelihoods of a fresh engine of the plan.
TEST(Choose, StemStoreGivesBitwiseTheLogliksOfAFreshEngine) {
    auto model = Model::load(std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l");
    const int N = int(model->spec().n_layers);
    const std::vector<Json> records = {
        {{"context", "The jury said the election was"},
         {"choices", {" conducted fairly", " a purple elephant", " the"}},
         {"gold", 0}},
        {{"context", "It was a fine day for the "}, {"choices", {"county", "xylophone quartz"}}},
        {{"context", "In the morning he"}, {"choices", {" sat", " went to the"}}},
    };
    std::vector<ChoiceItem> items;
    for (size_t i = 0; i < records.size(); ++i)
        items.push_back(prepare_choice(model->tokenizer(), records[i], int64_t(i + 1),
                                       model->spec().max_position));
    auto store = std::make_shared<StemStore>(int64_t(1) << 30);
    {
        Engine base(model, LayerPlan::identity(N));
        base.set_stem_store(store, StemStoreUse::capture);
        choose_batch(base, items);
    }
    EXPECT_GE(store->size(), items.size() + 3);  // contexts and the multi-token choices
    for (const char* spec : {"rys:4,8", "rys:0,12", "rys:2,5;7,9"}) {
        const LayerPlan plan = LayerPlan::parse(spec, N);
        Engine fresh(model, plan), reuse(model, plan);
        reuse.set_stem_store(store, StemStoreUse::reuse);
        const int64_t misses = store->stats().misses;
        const auto a = choose_batch(fresh, items), b = choose_batch(reuse, items);
        EXPECT_EQ(store->stats().misses, misses) << spec;
        for (size_t i = 0; i < items.size(); ++i) {
            ASSERT_EQ(a[i].logliks.size(), b[i].logliks.size());
            EXPECT_EQ(0, std::memcmp(a[i].logliks.data(), b[i].logliks.data(),
                                     a[i].logliks.size() * sizeof(double)))
                << spec << " record " << i + 1;
        }
    }
}

TEST(Choose, BadRecords) {
    auto model = Model::load(std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l");
    const Tokenizer& tok = model->tokenizer();
    auto message = [&](const Json& r) {
        try {
            prepare_choice(tok, r, 7, 1024);
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_EQ(message(Json::object()), "record 7: empty record");
    EXPECT_EQ(message(Json{{"choices", {"a", "b"}}}), "record 7: field 'context' must be a string");
    EXPECT_NE(message(Json{{"context", "x"}, {"choices", {"a", "b"}}, {"gold", 2}}).find("'gold'"),
              std::string::npos);
    EXPECT_NE(message(Json{{"context", "The answer is th"}, {"choices", {"e", " no"}}})
                  .find("choices[0] \"e\" merges with the end of the context"),
              std::string::npos);
}

}  // namespace
}  // namespace encore
