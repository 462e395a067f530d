// Model::load: a Hugging Face directory (config.json, safetensors single or sharded,
// tokenizer.json) or a GGUF file (see gguf_model.h).
#include <filesystem>

#include "core/error.h"
#include "formats/safetensors.h"
#include "model/gguf_model.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace encore {

namespace {

std::shared_ptr<Model> load_hf_dir(const std::string& dir) {
    namespace fs = std::filesystem;
    const std::string config_path = (fs::path(dir) / "config.json").string();
    if (!fs::exists(config_path))
        fail(ErrorKind::io, "{}: not a model directory (no config.json)", dir);
    ModelSpec spec = load_hf_config(config_path);
    auto checkpoint = std::make_shared<SafetensorsCheckpoint>(SafetensorsCheckpoint::open_dir(dir));
    TensorLookup lookup = [&](const std::string& name) { return checkpoint->find(name); };
    Weights weights = bind_hf_weights(spec, lookup, dir);
    const std::string tok_path = (fs::path(dir) / "tokenizer.json").string();
    std::shared_ptr<Tokenizer> tokenizer;  // optional: token-id workloads need none
    if (fs::exists(tok_path)) tokenizer = std::make_shared<Tokenizer>(Tokenizer::from_file(tok_path));
    if (tokenizer && tokenizer->vocab_size() > spec.vocab_size)
        fail(ErrorKind::format, "{}: tokenizer has {} tokens but the model's vocab_size is {}",
             dir, tokenizer->vocab_size(), spec.vocab_size);
    return std::make_shared<Model>(std::move(spec), std::move(weights), std::move(tokenizer), dir,
                                   "safetensors", std::vector<std::shared_ptr<void>>{checkpoint});
}

}  // namespace

std::shared_ptr<Model> Model::load(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(path, ec)) fail(ErrorKind::io, "{}: no such file or directory", path);
    if (fs::is_directory(path, ec)) return load_hf_dir(path);
    return load_gguf_model(path);
}

}  // namespace encore
