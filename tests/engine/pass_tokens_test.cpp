// Tokens per forward pass (EngineOptions::max_batch_tokens): 0 takes the backend's default, a
// negative count is refused, and an eval longer than one pass gives the bits of one pass (the CPU
// kernels are row-invariant, so the split into passes changes nothing).
#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "engine/engine.h"
#include "engine/sequence.h"
#include "model/layer_plan.h"
#include "model/model.h"

namespace encore {
namespace {

std::shared_ptr<Model> brown() {
    static auto model = Model::load(std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l");
    return model;
}

TEST(PassTokens, ZeroTakesTheBackendsDefault) {
    auto model = brown();
    Engine engine(model, LayerPlan::identity(12), EngineOptions{});
    EXPECT_EQ(engine.pass_tokens(), engine.backend().default_pass_tokens());
    EXPECT_EQ(engine.pass_tokens(), 512);  // the CPU backend's
    EngineOptions o;
    o.max_batch_tokens = 40;
    EXPECT_EQ(Engine(model, LayerPlan::identity(12), o).pass_tokens(), 40);
}

TEST(PassTokens, NegativeIsRefused) {
    EngineOptions o;
    o.max_batch_tokens = -1;
    EXPECT_THROW(Engine(brown(), LayerPlan::identity(12), o), Error);
}

TEST(PassTokens, ManyPassesGiveTheBitsOfOne) {
    auto model = brown();
    std::vector<int32_t> tokens(700);
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t((i * 977 + 13) % 4000 + 2);
    std::vector<std::vector<float>> logits;
    for (int64_t pass : {int64_t(0), int64_t(1000), int64_t(33)}) {
        EngineOptions o;
        o.max_batch_tokens = pass;
        o.prefix_cache = false;
        Engine engine(model, LayerPlan::identity(12), o);
        Sequence seq(engine);
        seq.prefill(tokens, Logits::last);
        const auto last = seq.last_logits();
        logits.emplace_back(last.begin(), last.end());
    }
    EXPECT_EQ(logits[0], logits[1]);  // 512 + 188 against one pass of 700
    EXPECT_EQ(logits[0], logits[2]);
}

}  // namespace
}  // namespace encore
