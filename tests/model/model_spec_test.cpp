// HF config.json parsing: both RoPE forms give the same spec, architecture flags, and missing or
// bad fields rejected with a message naming the field.
#include "model/model_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/rope.h"

namespace encore {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json base_config() {
    return json{{"model_type", "llama"},        {"vocab_size", 128},
                {"hidden_size", 64},            {"intermediate_size", 96},
                {"num_hidden_layers", 2},       {"num_attention_heads", 4},
                {"num_key_value_heads", 2},     {"rms_norm_eps", 1e-5},
                {"max_position_embeddings", 64}};
}

TEST(ModelSpec, ClassicAndNewRopeFormsAgree) {
    json classic = base_config();
    classic["rope_theta"] = 500000.0;
    classic["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                               {"high_freq_factor", 4.0},
                               {"original_max_position_embeddings", 32}};
    json modern = base_config();
    modern["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 500000.0},
                                 {"factor", 8.0}, {"low_freq_factor", 1.0},
                                 {"high_freq_factor", 4.0},
                                 {"original_max_position_embeddings", 32}};
    const ModelSpec a = spec_from_hf_config(classic, "classic");
    const ModelSpec b = spec_from_hf_config(modern, "modern");
    EXPECT_EQ(a.rope.scaling, RopeScaling::llama3);
    EXPECT_EQ(rope_inv_freq(a), rope_inv_freq(b));
    EXPECT_EQ(a.head_dim, 16);

    json linear_old = base_config();
    linear_old["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
    EXPECT_EQ(spec_from_hf_config(linear_old, "x").rope.scaling, RopeScaling::linear);
}

TEST(ModelSpec, ArchitectureFlags) {
    json q2 = base_config();
    q2["model_type"] = "qwen2";
    EXPECT_TRUE(spec_from_hf_config(q2, "x").qkv_bias);
    json q3 = base_config();
    q3["model_type"] = "qwen3";
    q3["head_dim"] = 24;
    const ModelSpec s3 = spec_from_hf_config(q3, "x");
    EXPECT_TRUE(s3.qk_norm);
    EXPECT_EQ(s3.head_dim, 24);
    json tied = base_config();
    tied["tie_word_embeddings"] = true;
    tied["eos_token_id"] = json::array({2, 7});
    const ModelSpec st = spec_from_hf_config(tied, "x");
    EXPECT_TRUE(st.tied_embeddings);
    EXPECT_EQ(st.eos_token_ids, (std::vector<int64_t>{2, 7}));
}

std::string error_of(const json& config) {
    try {
        spec_from_hf_config(config, "config.json");
    } catch (const Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no error";
    return "";
}

TEST(ModelSpec, BadConfigsNameTheField) {
    json c = base_config();
    c.erase("hidden_size");
    EXPECT_THAT(error_of(c), HasSubstr("hidden_size"));
    c = base_config();
    c["model_type"] = "gpt2";
    EXPECT_THAT(error_of(c), HasSubstr("gpt2"));
    c = base_config();
    c["num_key_value_heads"] = 3;
    EXPECT_THAT(error_of(c), HasSubstr("num_key_value_heads"));
    c = base_config();
    c["vocab_size"] = "many";
    EXPECT_THAT(error_of(c), HasSubstr("vocab_size"));
    c = base_config();
    c["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
    EXPECT_THAT(error_of(c), HasSubstr("yarn"));
    c = base_config();
    c["hidden_act"] = "gelu";
    EXPECT_THAT(error_of(c), HasSubstr("gelu"));
    EXPECT_THAT(error_of(json::array()), HasSubstr("not a JSON object"));
}

}  // namespace
}  // namespace encore
