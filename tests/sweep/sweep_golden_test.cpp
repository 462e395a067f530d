// The sweep's measurements against an independent reference: tests/data/sweep/golden.json
// (tools/goldens/sweep_goldens.py, a float64 numpy forward pass checked against transformers).
// Per-window NLL and perplexity of the bundled model under RYS and other plans within 1e-4
// relative, with and without stem reuse; greedy samples token for token; the layer-distance map
// within 1e-4.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "core/mapped_file.h"
#include "model/model.h"
#include "sweep/plan_set.h"
#include "sweep/run_dir.h"
#include "sweep/sweep.h"
#include "tokenizer/tokenizer.h"

namespace encore {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json golden() {
    static json g =
        json::parse(read_file(std::string(ENCORE_SOURCE_DIR) + "/tests/data/sweep/golden.json"));
    return g;
}

std::shared_ptr<Model> brown() {
    static auto model =
        Model::load(std::string(ENCORE_SOURCE_DIR) + "/" + golden()["model"].get<std::string>());
    return model;
}

class SweepGolden : public ::testing::TestWithParam<bool> {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("encore_sweep_golden_" + std::to_string(std::random_device{}()));
        fs::create_directories(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

TEST(SweepGoldenInputs, TextTokenizesToTheGoldensTokens) {
    const json g = golden();
    const Tokenizer& tok = brown()->tokenizer();
    EXPECT_EQ(tok.encode(g["text"].get<std::string>(), false),
              g["tokens"].get<std::vector<int32_t>>());
    for (size_t p = 0; p < g["prompts"].size(); ++p)
        EXPECT_EQ(tok.encode(g["prompts"][p].get<std::string>(), true),
                  g["prompt_ids"][p].get<std::vector<int32_t>>());
}

TEST_P(SweepGolden, PerplexitySamplesAndDistanceMatchTheReference) {
    const json g = golden();
    const bool stem_reuse = GetParam();
    const std::string text = (dir_ / "text.txt").string(),
                      prompts = (dir_ / "prompts.txt").string();
    std::ofstream(text) << g["text"].get<std::string>();
    {
        std::ofstream p(prompts);
        for (const auto& s : g["prompts"]) p << s.get<std::string>() << "\n";
    }
    SweepOptions o;
    o.run_dir = (dir_ / "run").string();
    o.model_path = "brown";
    PlanSetBuilder b(12);
    for (const auto& [spec, plan] : g["plans"].items())
        if (spec != "base") b.add_spec(spec, "golden");
    o.plans = b.build();
    o.probes.ppl_file = text;
    o.probes.ppl_ctx = g["ctx"].get<int64_t>();
    o.probes.ppl_windows = g["windows"].get<int64_t>();
    o.probes.prompts_file = prompts;
    o.probes.gen_tokens = g["gen_tokens"].get<int64_t>();
    o.stem_reuse = stem_reuse;
    o.draw = false;
    run_sweep(brown(), o);

    const auto rows = read_json_lines(o.run_dir + "/results.jsonl", false);
    const auto samples = read_json_lines(o.run_dir + "/samples.jsonl", false);
    ASSERT_EQ(rows.size(), g["plans"].size());
    for (const json& row : rows) {
        // The golden names plans by the spec it was given; results by the canonical name.
        const json* want = nullptr;
        for (const auto& [spec, plan] : g["plans"].items())
            if (plan["layers"] == row["layers"]) want = &plan;
        ASSERT_NE(want, nullptr) << row["plan"];
        const auto nll = row["per_item"]["ppl"]["nll"].get<std::vector<double>>();
        const auto ref = (*want)["window_nll"].get<std::vector<double>>();
        ASSERT_EQ(nll.size(), ref.size());
        for (size_t w = 0; w < nll.size(); ++w)
            EXPECT_LE(std::fabs(nll[w] - ref[w]) / std::fabs(ref[w]), 1e-4)
                << row["plan"] << " window " << w << ": " << nll[w] << " vs " << ref[w];
        const double ppl = row["metrics"]["ppl"]["value"].get<double>();
        EXPECT_LE(std::fabs(ppl - (*want)["ppl"].get<double>()) / (*want)["ppl"].get<double>(),
                  1e-4)
            << row["plan"];
        size_t k = 0;
        for (const json& s : samples) {
            if (s["plan"] != row["plan"]) continue;
            ASSERT_LT(k, (*want)["greedy"].size());
            EXPECT_EQ(s["tokens"], (*want)["greedy"][k]) << row["plan"] << " prompt " << k;
            ++k;
        }
        EXPECT_EQ(k, (*want)["greedy"].size()) << row["plan"];
    }
    const json dist = json::parse(read_file(o.run_dir + "/distance.json"));
    EXPECT_EQ(dist["tokens"], g["distance"]["tokens"]);
    const json& ref = g["distance"]["matrix"];
    for (size_t i = 0; i < ref.size(); ++i)
        for (size_t j = 0; j < ref.size(); ++j) {
            if (ref[i][j].is_null()) {
                EXPECT_TRUE(dist["distance"][i][j].is_null());
                continue;
            }
            EXPECT_NEAR(dist["distance"][i][j].get<double>(), ref[i][j].get<double>(), 1e-4)
                << i << "," << j;
        }
}

INSTANTIATE_TEST_SUITE_P(StemReuse, SweepGolden, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "with" : "without"; });

}  // namespace
}  // namespace encore
