// Models without a vocabulary: a Hugging Face directory without tokenizer.json, and GGUF files
// that say so as llama.cpp does (`tokenizer.ggml.model` = "none" or "no_vocab") or have no
// tokenizer keys at all. Each loads, runs on token ids with bitwise the logits of the directory it
// came from (CPU backend and scalar reference), is written again by `encore convert`'s code as a
// weights-only GGUF, and fails with one message naming the file when a tokenizer is asked for.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "core/error.h"
#include "engine/sequence.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "golden_support.h"
#include "model/gguf_model.h"
#include "tokenizer/tokenizer.h"

namespace encore {
namespace {

namespace fs = std::filesystem;

// The bundled model's directory without its tokenizer: config.json and the weights linked in.
std::string tokenizerless_dir(const std::string& name) {
    const std::string src = testing::model_dir_for("brown");
    const std::string dir = ::testing::TempDir() + "/encore_" + name;
    fs::remove_all(dir);
    fs::create_directories(dir);
    fs::copy_file(src + "/config.json", dir + "/config.json");
    fs::create_symlink(fs::absolute(src + "/model.safetensors"), dir + "/model.safetensors");
    return dir;
}

// A copy of the GGUF `from` with `tokenizer.ggml.model` set to `tokenizer_model` ("" = the key
// left out). Only the metadata types that write_gguf_model uses are copied.
void rewrite_tokenizer_model(const std::string& from, const std::string& to,
                             const std::string& tokenizer_model) {
    const GgufFile f = GgufFile::open(from);
    GgufWriter w;
    for (const GgufKv& kv : f.metadata()) {
        if (kv.key == "tokenizer.ggml.model") {
            if (!tokenizer_model.empty()) w.set_string(kv.key, tokenizer_model);
        } else if (kv.type == GgufType::string) {
            w.set_string(kv.key, f.get_string(kv.key));
        } else if (kv.type == GgufType::uint32) {
            w.set_u32(kv.key, uint32_t(f.get_int(kv.key)));
        } else if (kv.type == GgufType::float32) {
            w.set_f32(kv.key, float(f.get_float(kv.key)));
        } else {
            FAIL() << "unexpected metadata type of " << kv.key;
        }
    }
    for (const GgufTensorInfo& t : f.tensors()) {
        const TensorView& v = f.view(t);
        w.add_tensor(t.name, v.dtype,
                     std::vector<int64_t>(v.shape.begin(), v.shape.begin() + v.n_dims), v.data);
    }
    w.write(to);
}

std::vector<float> logits_of(const std::shared_ptr<Model>& model, const std::string& backend,
                             const std::vector<int32_t>& tokens) {
    EngineOptions options;
    options.backend = backend;
    Engine engine(model, LayerPlan::parse("", int(model->spec().n_layers)), options);
    Sequence seq(engine);
    seq.prefill(tokens, Logits::all);
    return std::vector<float>(seq.logits().begin(), seq.logits().end());
}

// The message of the error that asking `model` for its tokenizer raises.
std::string tokenizer_error(const Model& model) {
    try {
        model.tokenizer();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(NoVocabulary, DirectoryAndWeightsOnlyGgufsGiveBitwiseTheSameLogits) {
    const std::string dir = tokenizerless_dir("no_vocab_dir");
    const auto source = Model::load(dir);
    EXPECT_FALSE(source->has_tokenizer());
    EXPECT_NE(tokenizer_error(*source).find(dir + "/tokenizer.json"), std::string::npos)
        << tokenizer_error(*source);
    // The same weights with their tokenizer: the logits do not depend on having one.
    const auto with_tokenizer = Model::load(testing::model_dir_for("brown"));
    ASSERT_TRUE(with_tokenizer->has_tokenizer());

    const std::vector<int32_t> tokens = {0, 17, 4095, 230, 1, 9, 512, 3000, 42, 7};
    std::map<std::string, std::vector<float>> ref;
    for (const char* backend : {"cpu", "scalar"}) {
        ref[backend] = logits_of(source, backend, tokens);
        EXPECT_EQ(ref[backend], logits_of(with_tokenizer, backend, tokens)) << backend;
    }

    // `encore convert` of the directory: a weights-only GGUF (tokenizer.ggml.model = "none").
    const std::string none_path = dir + "/none.gguf";
    write_gguf_model(*source, none_path, source->weights().layers[0].wq.dtype);
    {
        const GgufFile f = GgufFile::open(none_path);
        EXPECT_EQ(f.get_string("tokenizer.ggml.model"), "none");
        EXPECT_FALSE(f.has("tokenizer.ggml.tokens"));
    }
    const std::string no_vocab_path = dir + "/no_vocab.gguf";
    const std::string no_keys_path = dir + "/no_keys.gguf";
    rewrite_tokenizer_model(none_path, no_vocab_path, "no_vocab");
    rewrite_tokenizer_model(none_path, no_keys_path, "");
    ASSERT_FALSE(GgufFile::open(no_keys_path).has("tokenizer.ggml.model"));

    for (const std::string& path : {none_path, no_vocab_path, no_keys_path}) {
        SCOPED_TRACE(path);
        const auto model = Model::load(path);
        EXPECT_FALSE(model->has_tokenizer());
        EXPECT_EQ(model->spec().n_layers, source->spec().n_layers);
        const std::string message = tokenizer_error(*model);
        EXPECT_NE(message.find(path), std::string::npos) << message;
        for (const char* backend : {"cpu", "scalar"})
            EXPECT_EQ(logits_of(model, backend, tokens), ref[backend]) << backend;
        // Written again (convert of a weights-only GGUF): still weights-only, same logits.
        const std::string again = path + ".again.gguf";
        write_gguf_model(*model, again, DType::bf16);
        EXPECT_EQ(GgufFile::open(again).get_string("tokenizer.ggml.model"), "none");
        EXPECT_EQ(logits_of(Model::load(again), "cpu", tokens), ref["cpu"]);
    }
    fs::remove_all(dir);
}

// A GGUF that names a real tokenizer model but lacks its tokens is malformed, not weights-only.
TEST(NoVocabulary, TokenizerModelWithoutTokensIsAnError) {
    const std::string dir = tokenizerless_dir("no_tokens");
    const auto source = Model::load(dir);
    write_gguf_model(*source, dir + "/none.gguf", DType::bf16);
    rewrite_tokenizer_model(dir + "/none.gguf", dir + "/gpt2.gguf", "gpt2");
    try {
        Model::load(dir + "/gpt2.gguf");
        ADD_FAILURE() << "loaded a GGUF whose tokenizer has no tokens";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("tokenizer.ggml.tokens"), std::string::npos)
            << e.what();
    }
    fs::remove_all(dir);
}

}  // namespace
}  // namespace encore
