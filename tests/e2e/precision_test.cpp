// --precision fast against transformers (float64) on the bf16 goldens (the random llama3 with
// scaled RoPE and tied embeddings, and the bundled trained model), every plan: the error relative
// to the reference's logit scale stays within the bound README.md states for it, while the default
// precision stays within the project's 1e-4. Each error is printed, so the README's figures can be
// checked against a run. fast differs from the default (it is not a no-op), and a sequence
// decoded token by token gives bitwise the logits of one prefill of the same tokens.
#include <gtest/gtest.h>

#include <cstdio>

#include "engine/sequence.h"
#include "golden_support.h"

namespace encore {
namespace {

using testing::golden_logits;
using testing::golden_root;
using testing::read_golden;
using testing::relative_to_scale;

constexpr double k_default_tolerance = 1e-4;
// The bounds stated in README.md ("Numerics of the CPU backend") for --precision fast: the
// random-weight model compounds rounding over its layers far more than the trained one.
double fast_tolerance(const std::string& variant) {
    return variant == "brown" ? 2e-3 : 2e-2;
}

std::vector<float> logits_at(const std::shared_ptr<Model>& model, const LayerPlan& plan,
                             Precision precision, const std::vector<int32_t>& tokens) {
    EngineOptions options;
    options.precision = precision;
    Engine engine(model, plan, options);
    Sequence seq(engine);
    seq.prefill(tokens, Logits::all);
    return std::vector<float>(seq.logits().begin(), seq.logits().end());
}

class Bf16Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Bf16Golden, FastStaysWithinItsStatedError) {
    const std::string dir = golden_root() + "/" + GetParam();
    const auto model = Model::load(testing::model_dir_for(GetParam()));
    ASSERT_EQ(model->weights().layers[0].wq.dtype, DType::bf16);
    const nlohmann::json golden = read_golden(dir);
    const std::vector<int32_t> tokens = golden["tokens"].get<std::vector<int32_t>>();
    for (const auto& [plan_name, plan_json] : golden["plans"].items()) {
        SCOPED_TRACE(GetParam() + " plan " + plan_name);
        const LayerPlan plan{plan_json["layers"].get<std::vector<int>>()};
        const std::vector<float> ref = golden_logits(dir, plan_name);
        const std::vector<float> standard = logits_at(model, plan, Precision::standard, tokens);
        const std::vector<float> fast = logits_at(model, plan, Precision::fast, tokens);
        const double err_default = relative_to_scale(standard, ref);
        const double err_fast = relative_to_scale(fast, ref);
        std::printf("precision %-24s %-12s default %.2e  fast %.2e (of the logit scale)\n",
                    GetParam().c_str(), plan_name.c_str(), err_default, err_fast);
        EXPECT_LE(err_default, k_default_tolerance);
        EXPECT_LE(err_fast, fast_tolerance(GetParam()));
        EXPECT_NE(standard, fast) << "fast computed what the default computes";
    }
}

INSTANTIATE_TEST_SUITE_P(Variants, Bf16Golden,
                         ::testing::Values("llama3_scaled_bf16_tied", "brown"),
                         [](const auto& info) { return info.param; });

// Fast is batch-invariant end to end: tokens decoded one by one after a prefill give bitwise the
// logits that one prefill of all of them gives.
TEST(FastPrecision, DecodeEqualsPrefillBitwise) {
    const auto model = Model::load(testing::model_dir_for("brown"));
    const LayerPlan plan = LayerPlan::parse("rys:4,8", int(model->spec().n_layers));
    EngineOptions options;
    options.precision = Precision::fast;
    Engine engine(model, plan, options);
    const std::vector<int32_t> tokens = {0, 17, 4095, 230, 1, 9, 512, 3000, 42, 7, 99, 1234};
    Sequence whole(engine);
    whole.prefill(tokens, Logits::all);
    const std::vector<float> all(whole.logits().begin(), whole.logits().end());
    const size_t vocab = size_t(model->spec().vocab_size);
    Sequence step(engine);
    step.prefill(std::span(tokens).first(5), Logits::all);
    std::vector<float> pieces(step.logits().begin(), step.logits().end());
    for (size_t i = 5; i < tokens.size(); ++i) {
        step.prefill(std::span(tokens).subspan(i, 1), Logits::last);
        pieces.insert(pieces.end(), step.last_logits().begin(), step.last_logits().end());
    }
    ASSERT_EQ(pieces.size(), tokens.size() * vocab);
    EXPECT_EQ(pieces, all);
}

}  // namespace
}  // namespace encore
