// Writes the bundled model converted to GGUF (bf16, as stored) together with an expectation
// derived from the *source* checkpoint, for tests/extra/gguf_js.sh: an independent parser
// (@huggingface/gguf) must find the architecture metadata, every tensor with llama.cpp's name and
// shape, and — for tensors stored unchanged — data whose CRC32 equals that of the source
// safetensors bytes. Runs only when ENCORE_GGUF_CONVERT_DIR is set.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "formats/safetensors.h"
#include "golden_support.h"
#include "model/gguf_model.h"

namespace encore {
namespace {

TEST(GgufConvertSample, WriteForIndependentParser) {
    const char* dir = std::getenv("ENCORE_GGUF_CONVERT_DIR");
    if (!dir) GTEST_SKIP() << "ENCORE_GGUF_CONVERT_DIR not set";
    const std::string src_dir = testing::model_dir_for("brown");
    const auto model = Model::load(src_dir);
    write_gguf_model(*model, std::string(dir) + "/converted.gguf", DType::bf16);

    const SafetensorsFile src(src_dir + "/model.safetensors");
    const ModelSpec& s = model->spec();
    nlohmann::json md = {
        {"general.architecture", {{"type", "string"}, {"value", "llama"}}},
        {"llama.block_count", {{"type", "uint32"}, {"value", s.n_layers}}},
        {"llama.embedding_length", {{"type", "uint32"}, {"value", s.n_embd}}},
        {"llama.feed_forward_length", {{"type", "uint32"}, {"value", s.n_ff}}},
        {"llama.attention.head_count", {{"type", "uint32"}, {"value", s.n_heads}}},
        {"llama.attention.head_count_kv", {{"type", "uint32"}, {"value", s.n_kv_heads}}},
        {"llama.rope.freq_base", {{"type", "float32"}, {"value", s.rope.theta}}},
        {"tokenizer.ggml.model", {{"type", "string"}, {"value", "gpt2"}}},
        {"tokenizer.ggml.tokens", {{"type", "array"}, {"element_type", "string"}}},
        {"tokenizer.ggml.merges", {{"type", "array"}, {"element_type", "string"}}},
        {"tokenizer.ggml.bos_token_id", {{"type", "uint32"}, {"value", 0}}},
    };
    nlohmann::json tensors = nlohmann::json::array();
    auto expect_tensor = [&](const std::string& hf, const std::string& gguf, bool same_bytes) {
        const TensorView& t = src.get(hf);
        nlohmann::json e = {{"name", gguf}, {"type", 30}};  // 30 = BF16
        nlohmann::json ne = nlohmann::json::array();
        for (int i = t.n_dims - 1; i >= 0; --i) ne.push_back(t.dim(i));
        e["ne"] = ne;
        e["n_bytes"] = t.n_bytes();
        if (same_bytes) e["crc32"] = crc32(0, static_cast<const Bytef*>(t.data), uInt(t.n_bytes()));
        tensors.push_back(e);
    };
    expect_tensor("model.embed_tokens.weight", "token_embd.weight", true);
    for (int64_t il = 0; il < s.n_layers; ++il) {
        const std::string h = "model.layers." + std::to_string(il) + ".";
        const std::string g = "blk." + std::to_string(il) + ".";
        expect_tensor(h + "self_attn.q_proj.weight", g + "attn_q.weight", false);  // permuted
        expect_tensor(h + "self_attn.k_proj.weight", g + "attn_k.weight", false);  // permuted
        expect_tensor(h + "self_attn.v_proj.weight", g + "attn_v.weight", true);
        expect_tensor(h + "self_attn.o_proj.weight", g + "attn_output.weight", true);
        expect_tensor(h + "mlp.gate_proj.weight", g + "ffn_gate.weight", true);
        expect_tensor(h + "mlp.up_proj.weight", g + "ffn_up.weight", true);
        expect_tensor(h + "mlp.down_proj.weight", g + "ffn_down.weight", true);
    }
    const nlohmann::json expect = {{"version", 3}, {"metadata", md}, {"tensors", tensors}};
    std::ofstream(std::string(dir) + "/converted.expect.json") << expect.dump(1);
}

// The bundled model without its tokenizer.json, converted: a weights-only GGUF. Its metadata must
// be exactly the model's keys and tokenizer.ggml.model = "none" (llama.cpp's mark), nothing else.
TEST(GgufConvertSample, WriteWeightsOnlyForIndependentParser) {
    const char* dir = std::getenv("ENCORE_GGUF_CONVERT_DIR");
    if (!dir) GTEST_SKIP() << "ENCORE_GGUF_CONVERT_DIR not set";
    const std::string src_dir = testing::model_dir_for("brown");
    const std::string no_tok = std::string(dir) + "/brown_no_tokenizer";
    std::filesystem::create_directories(no_tok);
    std::filesystem::copy_file(src_dir + "/config.json", no_tok + "/config.json",
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::remove(no_tok + "/model.safetensors");
    std::filesystem::create_symlink(std::filesystem::absolute(src_dir + "/model.safetensors"),
                                    no_tok + "/model.safetensors");
    const auto model = Model::load(no_tok);
    ASSERT_FALSE(model->has_tokenizer());
    write_gguf_model(*model, std::string(dir) + "/converted_no_vocab.gguf", DType::bf16);

    const ModelSpec& s = model->spec();
    auto u32 = [](int64_t v) { return nlohmann::json{{"type", "uint32"}, {"value", v}}; };
    auto f32 = [](double v) { return nlohmann::json{{"type", "float32"}, {"value", float(v)}}; };
    const nlohmann::json md = {
        {"general.architecture", {{"type", "string"}, {"value", "llama"}}},
        {"general.name", {{"type", "string"}}},
        {"general.file_type", u32(32)},  // llama.cpp's code of bf16 files
        {"general.alignment", u32(64)},
        {"llama.context_length", u32(s.max_position)},
        {"llama.embedding_length", u32(s.n_embd)},
        {"llama.block_count", u32(s.n_layers)},
        {"llama.feed_forward_length", u32(s.n_ff)},
        {"llama.attention.head_count", u32(s.n_heads)},
        {"llama.attention.head_count_kv", u32(s.n_kv_heads)},
        {"llama.attention.key_length", u32(s.head_dim)},
        {"llama.attention.value_length", u32(s.head_dim)},
        {"llama.rope.dimension_count", u32(s.head_dim)},
        {"llama.rope.freq_base", f32(s.rope.theta)},
        {"llama.attention.layer_norm_rms_epsilon", f32(s.rms_norm_eps)},
        {"llama.vocab_size", u32(s.vocab_size)},
        {"tokenizer.ggml.model", {{"type", "string"}, {"value", "none"}}},
    };
    const SafetensorsFile src(src_dir + "/model.safetensors");
    const TensorView& embd = src.get("model.embed_tokens.weight");
    const nlohmann::json tensors = nlohmann::json::array(
        {{{"name", "token_embd.weight"},
          {"type", 30},
          {"ne", {embd.dim(1), embd.dim(0)}},
          {"crc32", crc32(0, static_cast<const Bytef*>(embd.data), uInt(embd.n_bytes()))}}});
    const nlohmann::json expect = {
        {"version", 3}, {"exact_metadata", true}, {"metadata", md}, {"tensors", tensors}};
    std::ofstream(std::string(dir) + "/converted_no_vocab.expect.json") << expect.dump(1);
}

}  // namespace
}  // namespace encore
