// Held-out perplexity of the bundled trained model, as trained and with a repeated block, against
// transformers (float64) with the same windowing (tools/goldens/model_goldens.py).
#include <gtest/gtest.h>

#include "core/mapped_file.h"
#include "engine/perplexity.h"
#include "golden_support.h"
#include "tokenizer/tokenizer.h"

namespace encore {
namespace {

TEST(BundledModel, HeldoutPerplexityMatchesTransformers) {
    const auto model = Model::load(testing::model_dir_for("brown"));
    const nlohmann::json golden = testing::read_golden(testing::golden_root() + "/brown");
    const std::string text = read_file(testing::model_dir_for("brown") + "/heldout.txt");
    const std::vector<int32_t> tokens = model->tokenizer().encode(text, false);
    ASSERT_EQ(int64_t(tokens.size()), golden["heldout_tokens"].get<int64_t>());
    for (const char* plan_name : {"identity", "rys:4,8"}) {
        SCOPED_TRACE(plan_name);
        const auto& g = golden["plans"][plan_name];
        Engine engine(model, LayerPlan{g["layers"].get<std::vector<int>>()});
        const PerplexityResult r =
            perplexity(engine, tokens, golden["ctx"].get<int64_t>(), *model->tokenizer().bos_id());
        EXPECT_EQ(r.n_predicted, g["heldout_count"].get<int64_t>());
        EXPECT_NEAR(r.nll / g["heldout_nll"].get<double>(), 1.0, 1e-6)
            << "ppl " << r.ppl() << " vs " << g["heldout_ppl"].get<double>();
    }
}

}  // namespace
}  // namespace encore
