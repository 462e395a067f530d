// The Scorer on the bundled model: scores equal the naive computation (the full prompt in a
// fresh sequence, no cache, no batch) within 1e-5, and an item's results are bitwise the same
// whatever else is in its batch and whatever was scored before; calibration and rationales;
// load-time errors of rubrics and labels, and per-record errors of prepare(); stem reuse through
// a StemStore gives bitwise the scores of a fresh engine.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "engine/engine.h"
#include "model/model.h"
#include "score/scorer.h"
#include "tokenizer/tokenizer.h"

namespace encore {
namespace {

using Json = nlohmann::ordered_json;

std::shared_ptr<Model> brown() {
    static auto m = Model::load(std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l");
    return m;
}

const char* k_rubric = R"(version: 1
prefix: |
  Each passage is rated from A (poor) to E (excellent).

  Passage: The committee approved the budget.
  Rating: D

template: "Passage: {story}\n"
cue: "Rating:"
labels: letters:A-E
criteria:
  - name: craft
  - name: tone
    cue: "Tone: "
    labels: {cheerful: 1, gloomy: -1, "matter-of-fact": 0}
)";

std::vector<Json> stories() {
    std::ifstream in(std::string(ENCORE_SOURCE_DIR) + "/examples/heldout_stories.jsonl");
    std::vector<Json> out;
    std::string line;
    while (std::getline(in, line) && out.size() < 7) {
        Json j = Json::parse(line);
        j["story"] = j["story"].get<std::string>().substr(0, 80 + 37 * out.size());
        out.push_back(j);
    }
    return out;
}

void expect_bitwise(const ItemResult& a, const ItemResult& b) {
    ASSERT_EQ(a.scores.size(), b.scores.size());
    for (size_t c = 0; c < a.scores.size(); ++c) {
        const auto& x = a.scores[c].raw.logprobs;
        const auto& y = b.scores[c].raw.logprobs;
        ASSERT_EQ(x.size(), y.size());
        EXPECT_EQ(0, std::memcmp(x.data(), y.data(), x.size() * sizeof(double)))
            << "criterion " << c;
        EXPECT_EQ(a.scores[c].reason, b.scores[c].reason);
    }
}

TEST(Scorer, EqualsNaiveAndIsBitwiseBatchInvariant) {
    auto model = brown();
    Engine engine(model, LayerPlan::identity(model->spec().n_layers));
    Scorer scorer(engine, Rubric::from_string(k_rubric, "test.yaml"), model->tokenizer());
    ASSERT_GT(scorer.criteria()[1].labels[2].tokens.size(), 1u);  // a multi-token label
    std::vector<PreparedItem> items;
    for (const Json& s : stories()) items.push_back(scorer.prepare(s, int64_t(items.size() + 1)));

    const auto batch = scorer.score_batch(items);  // all together

    EngineOptions naive_options;
    naive_options.prefix_cache = false;
    Engine naive(model, LayerPlan::identity(model->spec().n_layers), naive_options);
    for (size_t i = 0; i < items.size(); ++i)
        for (size_t c = 0; c < 2; ++c) {
            const auto ref =
                naive_label_logprobs(naive, items[i].tokens[c], scorer.criteria()[c].labels);
            for (size_t l = 0; l < ref.size(); ++l)
                EXPECT_NEAR(batch[i].scores[c].raw.logprobs[l], ref[l], 1e-5);
        }

    // Alone, in reverse order, in pairs with other neighbours, on a fresh engine: bitwise equal.
    Engine fresh(model, LayerPlan::identity(model->spec().n_layers));
    Scorer alone_scorer(fresh, Rubric::from_string(k_rubric, "test.yaml"), model->tokenizer());
    for (size_t i = items.size(); i-- > 0;) expect_bitwise(alone_scorer.score(items[i]), batch[i]);
    std::vector<PreparedItem> reversed(items.rbegin(), items.rend());
    const auto rev = scorer.score_batch(reversed);
    for (size_t i = 0; i < items.size(); ++i) expect_bitwise(rev[items.size() - 1 - i], batch[i]);
    const std::vector<PreparedItem> pair = {items[3], items[0]};
    const auto two = scorer.score_batch(pair);
    expect_bitwise(two[0], batch[3]);
    expect_bitwise(two[1], batch[0]);
}

TEST(Scorer, StreamGivesBatchesInOrder) {
    auto model = brown();
    Engine engine(model, LayerPlan::identity(model->spec().n_layers));
    ScorerOptions options;
    options.batch_size = 3;
    Scorer scorer(engine, Rubric::from_string(k_rubric, "test.yaml"), model->tokenizer(), nullptr,
                  options);
    const auto s = stories();
    size_t next = 0;
    std::vector<Json> ids;
    std::vector<size_t> sizes;
    scorer.score_stream(
        [&]() -> std::optional<PreparedItem> {
            if (next == s.size()) return std::nullopt;
            ++next;
            return scorer.prepare(s[next - 1], int64_t(next));
        },
        [&](std::vector<ItemResult>& r) {
            sizes.push_back(r.size());
            for (const auto& x : r) ids.push_back(x.id);
        });
    EXPECT_EQ(sizes, (std::vector<size_t>{3, 3, 1}));
    for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(ids[i], s[i]["id"]);
}

TEST(Scorer, CalibrationAndReason) {
    auto model = brown();
    Engine engine(model, LayerPlan::identity(model->spec().n_layers));
    const std::string text =
        std::string(k_rubric) +
        "calibrate: {story: \"N/A\"}\nreason: {max_tokens: 6, then: \"\\nSo:\"}\n";
    Scorer scorer(engine, Rubric::from_string(text, "r.yaml"), model->tokenizer());
    std::vector<PreparedItem> items;
    for (const Json& s : stories()) items.push_back(scorer.prepare(s, int64_t(items.size() + 1)));
    const auto batch = scorer.score_batch(items);
    const auto alone = scorer.score(items[2]);
    expect_bitwise(alone, batch[2]);
    for (const auto& r : batch)
        for (size_t c = 0; c < 2; ++c) {
            ASSERT_TRUE(r.scores[c].calibrated.has_value());
            ASSERT_TRUE(r.scores[c].reason.has_value());
            EXPECT_FALSE(r.scores[c].reason->empty());
            double sum = 0;
            for (double p : r.scores[c].calibrated->probs) sum += p;
            EXPECT_NEAR(sum, 1.0, 1e-12);
        }
    // The content-free item itself calibrates to the uniform distribution.
    const auto cf = scorer.score(scorer.prepare(Json{{"story", "N/A"}}, 1));
    for (double p : cf.scores[0].calibrated->probs) EXPECT_NEAR(p, 1.0 / 5, 1e-9);
}

// Stem reuse through a StemStore (engine/stem_store.h): the unmodified model's Scorer run
// records every evaluation; a Scorer on an RYS plan whose engine reuses the store starts the
// prefixes, the items on their forks, the multi-token labels' forks and the calibration item
// after the shared instances, and gives bitwise the scores (raw, calibrated, rationales) of a
// Scorer on a fresh engine of the plan. Small forward chunks split the gathered stems.
TEST(Scorer, StemStoreGivesBitwiseTheScoresOfAFreshEngine) {
    auto model = brown();
    const int N = int(model->spec().n_layers);
    const std::string text =
        std::string(k_rubric) +
        "calibrate: {story: \"N/A\"}\nreason: {max_tokens: 4, then: \"\\nSo:\"}\n";
    const Rubric rubric = Rubric::from_string(text, "r.yaml");
    std::vector<Json> records = stories();
    records.resize(5);
    EngineOptions options;
    options.max_batch_tokens = 40;
    auto store = std::make_shared<StemStore>(int64_t(1) << 30);
    {
        Engine base(model, LayerPlan::identity(N), options);
        base.set_stem_store(store, StemStoreUse::capture);
        Scorer scorer(base, rubric, model->tokenizer());
        std::vector<PreparedItem> items;
        for (const Json& s : records) items.push_back(scorer.prepare(s, int64_t(items.size() + 1)));
        scorer.score_batch(items);
    }
    ASSERT_GT(store->size(), 0u);
    EXPECT_EQ(store->stats().refused, 0);
    for (const char* spec : {"rys:4,8", "rys:0,12", "rys:11,12", "rys:2,5;7,9", "3-11"}) {
        const LayerPlan plan = LayerPlan::parse(spec, N);
        const int64_t hits_before = store->stats().hits;
        Engine reuse(model, plan, options), fresh(model, plan, options);
        reuse.set_stem_store(store, StemStoreUse::reuse);
        Scorer with(reuse, rubric, model->tokenizer()), without(fresh, rubric, model->tokenizer());
        std::vector<PreparedItem> items;
        for (const Json& s : records) items.push_back(with.prepare(s, int64_t(items.size() + 1)));
        const auto a = with.score_batch(items), b = without.score_batch(items);
        ASSERT_EQ(a.size(), b.size());
        for (size_t i = 0; i < a.size(); ++i) {
            expect_bitwise(a[i], b[i]);
            for (size_t c = 0; c < a[i].scores.size(); ++c) {
                const auto& x = a[i].scores[c].calibrated->probs;
                const auto& y = b[i].scores[c].calibrated->probs;
                ASSERT_EQ(x.size(), y.size());
                EXPECT_EQ(0, std::memcmp(x.data(), y.data(), x.size() * sizeof(double)));
            }
        }
        // Every prefix, item and label fork was found (rationale steps after a plan's first
        // differing token are not); 3-11 finds them too but shares no instance with the base.
        EXPECT_GE(store->stats().hits - hits_before, int64_t(2 + 2 * 5 + 2)) << spec;
    }
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "no error";
}

TEST(Scorer, RubricAndLabelErrorsNameWhatIsWrong) {
    auto model = brown();
    Engine engine(model, LayerPlan::identity(model->spec().n_layers));
    auto compile = [&](const std::string& text) {
        return [&, text] {
            Scorer s(engine, Rubric::from_string(text, "r.yaml"), model->tokenizer());
        };
    };
    EXPECT_NE(error_of(compile("version: 1\ntemplate: [\n")).find("r.yaml: malformed rubric"),
              std::string::npos);
    EXPECT_NE(error_of(compile("template: \"{x}\"\n")).find("missing key 'version'"),
              std::string::npos);
    EXPECT_NE(error_of(compile("version: 1\ntemplate: \"{x}\"\nlabels: leters\n"))
                  .find("unknown label shorthand 'leters'"),
              std::string::npos);
    EXPECT_NE(error_of(compile("version: 1\ntemplate: \"{x}\"\ntemplat: 1\n"))
                  .find("unknown key 'templat'"),
              std::string::npos);
    EXPECT_NE(error_of(compile("version: 1\ntemplate: \"{x}\"\nlabels: [\" A\", \" A A\"]\n"))
                  .find("labels \" A\" and \" A A\" collide"),
              std::string::npos);
    EXPECT_NE(error_of(compile("version: 1\ntemplate: \"{x}\"\nlabels: [\"A\", \"A\"]\n"))
                  .find("collide"),
              std::string::npos);
    EXPECT_NE(error_of(compile("version: 1\ntemplate: \"{x}\"\ncue: \"The answer is th\"\nlabels: "
                               "[\"e\", \"is\"]\n"))
                  .find("label \"e\" merges with the cue"),
              std::string::npos);

    Scorer scorer(engine, Rubric::from_string(k_rubric, "r.yaml"), model->tokenizer());
    EXPECT_NE(error_of([&] {
                  scorer.prepare(Json{{"id", 1}, {"text", "x"}}, 4);
              }).find("record 4 (criterion 'craft'): missing field 'story'"),
              std::string::npos);
    EXPECT_NE(error_of([&] { scorer.prepare(Json::object(), 5); }).find("record 5: empty record"),
              std::string::npos);
    std::string long_story;
    for (int i = 0; i < 800; ++i) long_story += "The jury said so. ";
    EXPECT_NE(error_of([&] {
                  scorer.prepare(Json{{"story", long_story}}, 6);
              }).find("more than the model's context of 1024"),
              std::string::npos);
}

// The rubric hash that keys result files names the KV storage type when it is not f32 and the
// precision when it is fast (scores are other numbers then), and stays what it was for the
// defaults.
TEST(Scorer, HashNamesAHalfPrecisionKvTypeAndFastPrecision) {
    auto model = brown();
    const Rubric rubric = Rubric::from_string(k_rubric, "test.yaml");
    auto hash_with = [&](DType kv_type, Precision precision = Precision::standard) {
        EngineOptions o;
        o.kv_type = kv_type;
        o.precision = precision;
        Engine engine(model, LayerPlan::identity(model->spec().n_layers), o);
        return Scorer(engine, rubric, model->tokenizer()).hash();
    };
    const std::string f32 = hash_with(DType::f32), f16 = hash_with(DType::f16);
    EXPECT_EQ(f32, hash_with(DType::f32));
    EXPECT_NE(f32, f16);
    EXPECT_NE(f16, hash_with(DType::bf16));
    const std::string fast = hash_with(DType::f32, Precision::fast);
    EXPECT_NE(f32, fast);
    EXPECT_NE(fast, hash_with(DType::f16, Precision::fast));
}

}  // namespace
}  // namespace encore
