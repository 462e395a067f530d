// Tokens per forward pass (EngineOptions::max_batch_tokens): 0 takes the backend's default, a
// negative count is refused, and an eval longer than one pass gives the bits of one pass (the CPU
// kernels are row-invariant, so the split into passes changes nothing).
#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "engine/engine.h"
#include "engine/sequence.h"
#include "model/layer_plan.h"
#include "model/random_model.h"

namespace encore {
namespace {

std::shared_ptr<Model> small_model() {
    ModelSpec s;
    s.architecture = "llama";
    s.vocab_size = 64;
    s.n_embd = 32;
    s.n_ff = 64;
    s.n_layers = 2;
    s.n_heads = 4;
    s.n_kv_heads = 2;
    s.head_dim = 8;
    s.rope.theta = 10000;
    s.max_position = 4096;
    return make_random_model(s, DType::f32, 5);
}

TEST(PassTokens, ZeroTakesTheBackendsDefault) {
    auto model = small_model();
    Engine engine(model, LayerPlan::identity(2), EngineOptions{});
    EXPECT_EQ(engine.pass_tokens(), engine.backend().default_pass_tokens());
    EXPECT_EQ(engine.pass_tokens(), 512);  // the CPU backend's
    EngineOptions o;
    o.max_batch_tokens = 40;
    EXPECT_EQ(Engine(model, LayerPlan::identity(2), o).pass_tokens(), 40);
}

TEST(PassTokens, NegativeIsRefused) {
    EngineOptions o;
    o.max_batch_tokens = -1;
    EXPECT_THROW(Engine(small_model(), LayerPlan::identity(2), o), Error);
}

TEST(PassTokens, ManyPassesGiveTheBitsOfOne) {
    auto model = small_model();
    std::vector<int32_t> tokens(700);
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t((i * 7 + 3) % 64);
    std::vector<std::vector<float>> logits;
    for (int64_t pass : {int64_t(0), int64_t(1000), int64_t(33)}) {
        EngineOptions o;
        o.max_batch_tokens = pass;
        o.prefix_cache = false;
        Engine engine(model, LayerPlan::identity(2), o);
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
