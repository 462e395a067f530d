// End-to-end checks against transformers (float64) on every supported variant and layer plan:
// logits within 1e-4 of the reference's logit scale and identical greedy continuations, on the
// scalar reference backend and the optimized CPU backend, from safetensors and from GGUF files
// that encore writes.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/sampler.h"
#include "engine/sequence.h"
#include "golden_support.h"
#include "model/gguf_model.h"

namespace encore {
namespace {

using testing::golden_logits;
using testing::golden_root;
using testing::golden_variants;
using testing::greedy;
using testing::ids_of;
using testing::read_golden;
using testing::relative_to_scale;

constexpr double k_logit_tolerance = 1e-4;

// Checks every plan of a golden directory against `model`.
void check_model_against_golden(const std::shared_ptr<Model>& model, const std::string& dir,
                                const std::string& backend, double tolerance, bool check_greedy) {
    const nlohmann::json golden = read_golden(dir);
    const std::vector<int32_t> tokens = ids_of(golden["tokens"]);
    const std::vector<int32_t> prompt = ids_of(golden["greedy_prompt"]);
    const bool brown = golden.contains("heldout_tokens");
    for (const auto& [plan_name, plan_json] : golden["plans"].items()) {
        SCOPED_TRACE(dir + " plan " + plan_name + " on " + backend);
        LayerPlan plan{plan_json["layers"].get<std::vector<int>>()};
        EngineOptions options;
        options.backend = backend;
        Engine engine(model, plan, options);
        Sequence seq(engine);
        seq.prefill(tokens, Logits::all);
        const std::vector<float> ref = golden_logits(dir, plan_name);
        const double err = relative_to_scale(seq.logits(), ref);
        EXPECT_LE(err, tolerance) << "logits differ from transformers";
        if (check_greedy) {
            const std::vector<int32_t> want = ids_of(plan_json["greedy"]);
            const std::vector<int64_t> stop =
                brown ? model->spec().eos_token_ids : std::vector<int64_t>{};
            EXPECT_EQ(greedy(engine, prompt, want.size(), stop), want);
        }
    }
}

class GoldenVariant : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenVariant, SafetensorsMatchesTransformersOnEveryPlanAndBackend) {
    const std::string dir = golden_root() + "/" + GetParam();
    const auto model = Model::load(testing::model_dir_for(GetParam()));
    for (const char* backend : {"scalar", "cpu"})
        check_model_against_golden(model, dir, backend, k_logit_tolerance, true);
}

TEST_P(GoldenVariant, GgufWrittenByEncoreGivesTheSameLogits) {
    const std::string dir = golden_root() + "/" + GetParam();
    const auto source = Model::load(testing::model_dir_for(GetParam()));
    const std::string tmp = ::testing::TempDir() + "/encore_" + GetParam() + ".gguf";
    // Lossless conversions must match transformers as closely as the source does. q8_0 is lossy:
    // on these random-weight models (weights ~ N(0, 1.5/sqrt(fan_in)), errors compounding over
    // the layers) its logits stay within 15% of the logit scale; no greedy check (ties flip).
    struct Case {
        DType type;
        double tolerance;
        bool greedy;
    };
    for (const Case c : {Case{DType::f32, k_logit_tolerance, true},
                         Case{source->weights().layers[0].wq.dtype, k_logit_tolerance, true},
                         Case{DType::q8_0, 0.15, false}}) {
        SCOPED_TRACE(std::string("gguf ") + std::string(dtype_name(c.type)));
        write_gguf_model(*source, tmp, c.type);
        const auto model = Model::load(tmp);
        EXPECT_EQ(model->format(), "gguf");
        EXPECT_EQ(model->spec().n_layers, source->spec().n_layers);
        check_model_against_golden(model, dir, "cpu", c.tolerance, c.greedy);
    }
    std::filesystem::remove(tmp);
}

INSTANTIATE_TEST_SUITE_P(Variants, GoldenVariant, ::testing::ValuesIn(golden_variants(true)),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace encore
