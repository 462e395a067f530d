// The sweep on the bundled model: plan sets (RYS counts, canonical names, deduplication, bad
// plans), results with and without stem reuse bitwise equal (perplexity, generation, rubric and
// choice probes), resuming after a torn line (each
// plan once, the same values), resuming with another probe or model refused naming the
// difference, shards merged equal to the whole, the bootstrap interval's basic properties.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "core/error.h"
#include "core/mapped_file.h"
#include "engine/engine.h"
#include "engine/stem_store.h"
#include "model/model.h"
#include "score/choose.h"
#include "score/records.h"
#include "score/rubric.h"
#include "score/scorer.h"
#include "sweep/metrics.h"
#include "sweep/plan_set.h"
#include "sweep/run_dir.h"
#include "sweep/sweep.h"

#include <sstream>

namespace encore {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::shared_ptr<Model> brown() {
    static auto model = Model::load(std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l");
    return model;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST(PlanSet, RysCountsAndLimits) {
    PlanSetBuilder all(12);
    all.add_rys({});
    auto plans = all.build();
    ASSERT_EQ(plans.size(), 79u);  // 78 RYS plans and the base
    EXPECT_TRUE(plans[0].is_base());
    for (size_t k = 1; k < plans.size(); ++k) {
        ASSERT_TRUE(plans[k].i && plans[k].j);
        EXPECT_EQ(plans[k].plan.layers, LayerPlan::rys(*plans[k].i, *plans[k].j, 12).layers);
    }
    PlanSetBuilder limited(12);
    RysRange r;
    r.min_block = 2;
    r.max_block = 3;
    parse_index_range("4-6", "--i-range", r.i_min, r.i_max);
    limited.add_rys(r);
    plans = limited.build();
    ASSERT_EQ(plans.size(), 1u + 6u);  // i in 4..6, length 2 or 3
    for (size_t k = 1; k < plans.size(); ++k) {
        EXPECT_GE(*plans[k].i, 4);
        EXPECT_LE(*plans[k].i, 6);
        EXPECT_GE(*plans[k].j - *plans[k].i, 2);
        EXPECT_LE(*plans[k].j - *plans[k].i, 3);
    }
}

TEST(PlanSet, CanonicalNamesAndDeduplication) {
    PlanSetBuilder b(12);
    b.add_spec("0-7,4-11", "--plan");  // rys:4,8 written out
    b.add_spec("rys:4,8", "--plan");
    b.add_spec("0-11", "--plan");  // the base
    b.add_spec("rys:2,5;7,9", "--plan");
    b.add_spec("0-11,11", "--plan");
    const auto plans = b.build();
    ASSERT_EQ(plans.size(), 4u);
    EXPECT_EQ(plans[0].name, "base");
    EXPECT_EQ(plans[1].name, "rys:4,8");
    EXPECT_EQ(*plans[1].i, 4);
    EXPECT_EQ(plans[2].name, "0-4,2-8,7-11");
    EXPECT_FALSE(plans[2].i);
    EXPECT_EQ(plans[3].name, "rys:11,12") << "0-11,11 is rys:11,12";
}

TEST(PlanSet, BadPlansAreOneLineErrors) {
    PlanSetBuilder b(12);
    std::string e = error_of([&] { b.add_spec("0-14", "--plan '0-14'"); });
    EXPECT_NE(e.find("--plan '0-14'"), std::string::npos) << e;
    EXPECT_NE(e.find("out of range"), std::string::npos) << e;
    e = error_of([&] { b.add_spec("rys:3,13", "--plan"); });
    EXPECT_NE(e.find("rys:3,13"), std::string::npos) << e;
    e = error_of([&] { PlanSetBuilder(12).build(); });
    EXPECT_NE(e.find("empty plan set"), std::string::npos) << e;
    PlanSetBuilder only_base(12);
    only_base.add_spec("0-11", "--plan");
    e = error_of([&] { only_base.build(); });
    EXPECT_NE(e.find("empty plan set"), std::string::npos) << e;
    e = error_of([&] { PlanSetBuilder(12).add_file("/nonexistent/plans.txt"); });
    EXPECT_NE(e.find("/nonexistent/plans.txt"), std::string::npos) << e;
    const fs::path f = fs::temp_directory_path() / "encore_sweep_plans_test.txt";
    std::ofstream(f) << "# a comment\nrys:1,3\n\n0-2,1-11  # trailing\n0-99\n";
    e = error_of([&] { PlanSetBuilder(12).add_file(f.string()); });
    EXPECT_NE(e.find(f.string() + ":5"), std::string::npos) << e;
    std::ofstream(f) << "# a comment\nrys:1,3\n\n0-2,1-11  # trailing\n";
    PlanSetBuilder ok(12);
    ok.add_file(f.string());
    const auto plans = ok.build();
    ASSERT_EQ(plans.size(), 2u) << "0-2,1-11 is rys:1,3 too";
    EXPECT_EQ(plans[1].name, "rys:1,3");
    fs::remove(f);
}

TEST(PlanSet, ShardsPartitionThePlans) {
    PlanSetBuilder b(12);
    b.add_rys({});
    const auto plans = b.build();
    std::vector<int> seen(plans.size(), 0);
    for (int k = 1; k <= 3; ++k) {
        const auto shard = shard_plans(plans, k, 3);
        EXPECT_TRUE(shard[0].is_base());
        for (const auto& p : shard)
            for (size_t q = 0; q < plans.size(); ++q)
                if (plans[q].name == p.name) ++seen[q];
    }
    EXPECT_EQ(seen[0], 3);
    for (size_t q = 1; q < plans.size(); ++q) EXPECT_EQ(seen[q], 1) << plans[q].name;
    int k = 0, n = 0;
    EXPECT_NE(error_of([&] { parse_shard("3/2", k, n); }).find("--shard"), std::string::npos);
}

TEST(Bootstrap, IntervalOfIdenticalSeriesIsZeroAndSeeded) {
    RatioSeries a{{1, 2, 3, 4, 5}, {1, 1, 1, 1, 1}}, b{{2, 2, 4, 4, 7}, {1, 1, 1, 1, 1}};
    auto [lo, hi] = paired_bootstrap_ci(a, a, false, 1);
    EXPECT_EQ(lo, 0);
    EXPECT_EQ(hi, 0);
    auto ci1 = paired_bootstrap_ci(b, a, false, 1), ci2 = paired_bootstrap_ci(b, a, false, 1);
    EXPECT_EQ(ci1, ci2);
    // Every per-item delta is >= 0 and the mean delta is 0.8: the interval lies in [0, 2].
    EXPECT_GE(ci1.first, 0);
    EXPECT_LE(ci1.second, 2);
    EXPECT_LE(ci1.first, 0.8);
    EXPECT_GE(ci1.second, 0.8);
}

TEST(Degeneration, RepeatsAndDistinct) {
    EXPECT_EQ(repeated_4gram_share({1, 2, 3, 4, 1, 2, 3, 4}), 1.0 / 5.0);
    EXPECT_EQ(repeated_4gram_share({1, 2, 3}), 0.0);
    EXPECT_EQ(distinct_2({5, 5, 5, 5}), 1.0 / 3.0);
    EXPECT_EQ(distinct_2({1, 2, 3}), 1.0);
}

class SweepRun : public ::testing::Test {
  protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() /
                ("encore_sweep_test_" + std::to_string(std::random_device{}()));
        fs::create_directories(root_);
        text_ = (root_ / "text.txt").string();
        const std::string held =
            read_file(std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l/heldout.txt");
        std::ofstream(text_) << held.substr(0, 3000);
        prompts_ = (root_ / "prompts.txt").string();
        std::ofstream(prompts_) << "The jury said\nIn the morning\n";
    }
    void TearDown() override { fs::remove_all(root_); }

    SweepOptions options(const std::string& dir, std::vector<std::string> specs) {
        SweepOptions o;
        o.run_dir = (root_ / dir).string();
        o.model_path = "brown";
        PlanSetBuilder b(12);
        for (const auto& s : specs) b.add_spec(s, "--plan");
        o.plans = b.build();
        o.probes.ppl_file = text_;
        o.probes.ppl_ctx = 48;
        o.probes.ppl_windows = 3;
        o.probes.prompts_file = prompts_;
        o.probes.gen_tokens = 6;
        o.probes.min_tokens = 3;
        o.engine.n_threads = 2;
        o.draw = false;
        return o;
    }
    std::string file(const std::string& dir, const char* name) {
        return read_file((root_ / dir / name).string());
    }
    fs::path root_;
    std::string text_, prompts_;
};

const std::vector<std::string> kSpecs = {"rys:4,8",     "rys:0,12",   "rys:11,12",
                                         "rys:2,5;7,9", "0-11,11,11", "3-11"};

TEST_F(SweepRun, StemReuseGivesBitwiseTheSameResults) {
    auto with = options("with", kSpecs), without = options("without", kSpecs);
    without.stem_reuse = false;
    run_sweep(brown(), with);
    run_sweep(brown(), without);
    EXPECT_EQ(file("with", "results.jsonl"), file("without", "results.jsonl"));
    EXPECT_EQ(file("with", "samples.jsonl"), file("without", "samples.jsonl"));
    EXPECT_EQ(file("with", "results.csv"), file("without", "results.csv"));
    const auto rows = read_json_lines((root_ / "with/results.jsonl").string(), false);
    ASSERT_EQ(rows.size(), kSpecs.size() + 1);
    EXPECT_EQ(rows[0]["plan"], "base");
    EXPECT_EQ(rows[0]["metrics"]["ppl"]["delta"], 0.0);
    EXPECT_EQ(rows[1]["plan"], "rys:4,8");
    EXPECT_EQ(rows[1]["i"], 4);
    EXPECT_EQ(rows[1]["n_instances"], 16);
    EXPECT_EQ(rows[1]["per_item"]["ppl"]["nll"].size(), 3u);
    const double d = rows[1]["metrics"]["ppl"]["delta"].get<double>();
    EXPECT_EQ(d, rows[1]["metrics"]["ppl"]["value"].get<double>() -
                     rows[0]["metrics"]["ppl"]["value"].get<double>());
    EXPECT_LE(rows[1]["metrics"]["ppl"]["ci"][0].get<double>(), d);
    EXPECT_GE(rows[1]["metrics"]["ppl"]["ci"][1].get<double>(), d);
    EXPECT_TRUE(fs::exists(root_ / "with/distance.json"));
    EXPECT_EQ(json::parse(file("with", "distance.json"))["tokens"], 3 * 47);
    // A stem budget of one and a half windows' states: the first window's is kept, the other
    // two are not (every plan computes them from layer 0), the prompts' fit in what is left.
    // The same results; the distance map averages over the window kept.
    auto part = options("part", kSpecs);
    const ModelSpec& spec = brown()->spec();
    part.stem_store_bytes = StemStore::state_bytes(48, 12, spec.n_embd, spec.kv_dim()) * 3 / 2;
    run_sweep(brown(), part);
    EXPECT_EQ(file("part", "results.jsonl"), file("without", "results.jsonl"));
    EXPECT_EQ(file("part", "samples.jsonl"), file("without", "samples.jsonl"));
    EXPECT_EQ(json::parse(file("part", "distance.json"))["tokens"], 47);
    const auto samples = read_json_lines((root_ / "with/samples.jsonl").string(), false);
    EXPECT_EQ(samples.size(), 2 * rows.size());
    EXPECT_TRUE(samples[0].contains("stop_reason"));
}

TEST_F(SweepRun, ResumesAfterATornLineWithEveryPlanOnce) {
    run_sweep(brown(), options("whole", kSpecs));
    // A sweep stopped after 3 plans, in the middle of writing the 4th plan's line and after
    // writing its samples.
    fs::create_directories(root_ / "part");
    const auto run = json::parse(file("whole", "run.json"));
    write_json_file((root_ / "part/run.json").string(), run);
    const auto rows = read_json_lines((root_ / "whole/results.jsonl").string(), false);
    const auto samples = read_json_lines((root_ / "whole/samples.jsonl").string(), false);
    {
        std::ofstream r(root_ / "part/results.jsonl"), s(root_ / "part/samples.jsonl");
        for (int k = 0; k < 3; ++k) r << rows[size_t(k)].dump() << "\n";
        r << rows[3].dump().substr(0, 40);
        for (int k = 0; k < 8; ++k) s << samples[size_t(k)].dump() << "\n";
    }
    run_sweep(brown(), options("part", kSpecs));
    EXPECT_EQ(file("whole", "results.jsonl"), file("part", "results.jsonl"));
    EXPECT_EQ(file("whole", "samples.jsonl"), file("part", "samples.jsonl"));
    // Nothing left to do: a rerun changes nothing.
    run_sweep(brown(), options("part", kSpecs));
    EXPECT_EQ(file("whole", "results.jsonl"), file("part", "results.jsonl"));
}

TEST_F(SweepRun, ResumingAnotherSweepIsRefusedNamingTheDifference) {
    run_sweep(brown(), options("r", {"rys:4,8"}));
    const std::string before = file("r", "results.jsonl");
    auto o = options("r", {"rys:4,8"});
    o.probes.ppl_ctx = 64;
    std::string e = error_of([&] { run_sweep(brown(), o); });
    EXPECT_NE(e.find("probes.ppl.ctx"), std::string::npos) << e;
    o = options("r", {"rys:4,9"});
    e = error_of([&] { run_sweep(brown(), o); });
    EXPECT_NE(e.find("plan set"), std::string::npos) << e;
    EXPECT_NE(e.find("rys:4,9"), std::string::npos) << e;
    o = options("r", {"rys:4,8"});
    o.probes.gen_tokens = 7;
    e = error_of([&] { run_sweep(brown(), o); });
    EXPECT_NE(e.find("probes.gen.gen_tokens"), std::string::npos) << e;
    auto run = json::parse(file("r", "run.json"));
    run["model_identity"] = "0123456789abcdef";
    write_json_file((root_ / "r/run.json").string(), run);
    e = error_of([&] { run_sweep(brown(), options("r", {"rys:4,8"})); });
    EXPECT_NE(e.find("another model"), std::string::npos) << e;
    for (const std::string& m : {e}) EXPECT_EQ(m.find('\n'), std::string::npos);
    EXPECT_EQ(before, file("r", "results.jsonl"));  // no result lost
    o = options("missing", {"rys:4,8"});
    o.probes.ppl_file = (root_ / "nope.txt").string();
    e = error_of([&] { run_sweep(brown(), o); });
    EXPECT_NE(e.find("nope.txt"), std::string::npos) << e;
}

TEST_F(SweepRun, ShardsMergeToTheWhole) {
    run_sweep(brown(), options("whole", kSpecs));
    std::vector<std::string> parts;
    for (int k = 1; k <= 2; ++k) {
        auto o = options("shard" + std::to_string(k), kSpecs);
        o.shard_k = k;
        o.shard_n = 2;
        run_sweep(brown(), o);
        parts.push_back(o.run_dir);
    }
    EXPECT_NE(file("shard1", "results.jsonl"), file("whole", "results.jsonl"));
    merge_sweep_runs((root_ / "merged").string(), parts, false);
    for (const char* f :
         {"run.json", "results.jsonl", "samples.jsonl", "results.csv", "distance.json"})
        EXPECT_EQ(file("whole", f), file("merged", f)) << f;
    // Parts of other sweeps do not merge.
    auto other = options("other", kSpecs);
    other.probes.ppl_windows = 2;
    other.shard_k = 2;
    other.shard_n = 2;
    run_sweep(brown(), other);
    const std::string e = error_of([&] {
        merge_sweep_runs((root_ / "m2").string(), {parts[0], other.run_dir});
    });
    EXPECT_NE(e.find("other probes (probes.ppl."), std::string::npos) << e;
}

}  // namespace
}  // namespace encore

namespace encore {
namespace {

// The rubric and multiple-choice probes report what src/score computes for the same engine:
// per item the expected score and label mass averaged over criteria, per record acc/acc_norm;
// with and without stem reuse alike.
TEST_F(SweepRun, RubricAndChoiceProbesUseTheScorer) {
    const std::string items = (root_ / "items.jsonl").string();
    {
        std::istringstream all(
            read_file(std::string(ENCORE_SOURCE_DIR) + "/examples/heldout_stories.jsonl"));
        std::ofstream out(items);
        std::string line;
        for (int k = 0; k < 3 && std::getline(all, line); ++k) out << line << "\n";
    }
    const std::string choices = (root_ / "choices.jsonl").string();
    std::ofstream(choices)
        << R"({"context": "The jury said it", "choices": [" was", " the", " of"], "gold": 0})"
        << "\n"
        << R"({"context": "In the morning", "choices": [" he", " of the", " sat"], "gold": 1})"
        << "\n"
        << R"({"context": "The city of", "choices": [" Atlanta", " the", " was"], "gold": 0})"
        << "\n";
    auto o = options("rubric", {"rys:4,8"});
    o.probes = {};
    o.probes.rubric_file = std::string(ENCORE_SOURCE_DIR) + "/examples/rubrics/story_quality.yaml";
    o.probes.items_file = items;
    o.probes.choices_file = choices;
    run_sweep(brown(), o);
    const auto rows = read_json_lines(o.run_dir + "/results.jsonl", false);
    ASSERT_EQ(rows.size(), 2u);

    for (size_t r = 0; r < rows.size(); ++r) {
        Engine engine(brown(), LayerPlan::parse(r == 0 ? "0-11" : "rys:4,8", 12));
        const Rubric rubric = Rubric::from_file(o.probes.rubric_file);
        Scorer scorer(engine, rubric, brown()->tokenizer());
        std::vector<PreparedItem> prepared;
        for (const InputRecord& rec : read_records(items))
            prepared.push_back(scorer.prepare(rec.value, rec.number));
        double expected = 0, mass = 0;
        for (const ItemResult& res : scorer.score_batch(prepared)) {
            double e = 0, m = 0;
            for (const auto& c : res.scores) e += c.raw.expected, m += c.raw.label_mass;
            expected += e / double(res.scores.size());
            mass += m / double(res.scores.size());
        }
        const json& metrics = rows[r]["metrics"];
        EXPECT_DOUBLE_EQ(metrics["rubric_expected"]["value"].get<double>(), expected / 3);
        EXPECT_DOUBLE_EQ(metrics["rubric_label_mass"]["value"].get<double>(), mass / 3);

        std::vector<ChoiceItem> ci;
        for (const InputRecord& rec : read_records(choices))
            ci.push_back(prepare_choice(brown()->tokenizer(), rec.value, rec.number, 1024));
        double acc = 0, acc_norm = 0;
        for (const ChoiceResult& res : choose_batch(engine, ci))
            acc += res.argmax == *res.gold, acc_norm += res.argmax_norm == *res.gold;
        EXPECT_DOUBLE_EQ(metrics["choice_acc"]["value"].get<double>(), acc / 3);
        EXPECT_DOUBLE_EQ(metrics["choice_acc_norm"]["value"].get<double>(), acc_norm / 3);
    }
    const auto run = json::parse(file("rubric", "run.json"));
    EXPECT_EQ(run["probes"]["rubric"]["items"], 3);
    // With stem reuse (the prefixes, items and choices started after the base's instances each
    // plan shares, engine/stem_store.h) and without: bitwise the same results, over RYS plans
    // of every kind; and with a stem budget too small for any state.
    for (const int64_t budget : {int64_t(1) << 30, int64_t(0)}) {
        const std::vector<std::string> specs =
            budget > 0 ? kSpecs : std::vector<std::string>{"rys:4,8"};
        auto with = options("rubric_with" + std::to_string(budget), specs);
        auto without = options("rubric_without" + std::to_string(budget), specs);
        for (SweepOptions* x : {&with, &without}) {
            x->probes = o.probes;
            x->stem_store_bytes = budget;
        }
        without.stem_reuse = false;
        run_sweep(brown(), with);
        run_sweep(brown(), without);
        const std::string a = file(with.run_dir.substr(root_.string().size() + 1), "results.jsonl");
        EXPECT_EQ(a, file(without.run_dir.substr(root_.string().size() + 1), "results.jsonl"));
        EXPECT_EQ(read_json_lines(with.run_dir + "/results.jsonl", false).size(), specs.size() + 1);
    }
    EXPECT_EQ(run["probes"]["choice"]["records"], 3);
    // A choice record without a gold answer cannot be scored: a one-line error naming it.
    std::ofstream(choices) << R"({"context": "The jury", "choices": [" a", " b"]})"
                           << "\n";
    auto bad = options("rubric_bad", {"rys:4,8"});
    bad.probes = {};
    bad.probes.choices_file = choices;
    const std::string e = error_of([&] { run_sweep(brown(), bad); });
    EXPECT_NE(e.find("record 1"), std::string::npos) << e;
    EXPECT_NE(e.find("gold"), std::string::npos) << e;
}

}  // namespace
}  // namespace encore
