// Exporting a layer plan (see export.h).
#include "sweep/export.h"

#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/safetensors.h"
#include "model/gguf_model.h"
#include "tokenizer/tokenizer.h"

namespace encore {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void write_text(const fs::path& path, const std::string& text) {
    AtomicFileWriter w(path.string());
    w.write(text);
    w.commit();
}

void check_target_free(const std::string& out) {
    if (fs::exists(out))
        fail(ErrorKind::invalid_argument,
             "-o {}: already exists (export writes a new file or "
             "directory)",
             out);
}

// The dtype name mergekit and transformers use for the stored matrices.
std::string torch_dtype(const Model& model) {
    switch (model.weights().layers.at(0).wq.dtype) {
        case DType::bf16:
            return "bfloat16";
        case DType::f16:
            return "float16";
        default:
            return "float32";
    }
}

}  // namespace

void export_hf(const Model& model, const LayerPlan& plan, const std::string& out_dir) {
    check_target_free(out_dir);
    const fs::path src(model.path());
    if (model.format() != "safetensors" || !fs::is_directory(src))
        fail(ErrorKind::unsupported,
             "export --format hf needs a Hugging Face model directory as -m (got {})",
             model.path());
    const int n_layers = int(model.spec().n_layers);
    json config;
    try {
        config = json::parse(read_file((src / "config.json").string()));
    } catch (const json::exception& e) {
        fail(ErrorKind::format, "{}/config.json: not valid JSON ({})", src.string(), e.what());
    }
    const auto ckpt = SafetensorsCheckpoint::open_dir(src.string());
    // Source layer -> its instances in the plan.
    std::map<int, std::vector<int>> instances;
    for (int ii = 0; ii < plan.n_instances(); ++ii)
        instances[plan.layers[size_t(ii)]].push_back(ii);
    const std::regex layer_name(R"(^(.*\.layers\.)(\d+)(\..*)$)");
    std::vector<TensorToWrite> tensors;
    for (const std::string& name : ckpt.names()) {
        const SafetensorsTensor* e = ckpt.find_entry(name);
        const TensorView& v = ckpt.get(name);
        auto add = [&](const std::string& out_name) {
            tensors.push_back({out_name, v.dtype, e->shape, v.data});
        };
        std::smatch m;
        if (std::regex_match(name, m, layer_name)) {
            const int l = std::stoi(m[2]);
            if (l >= n_layers)
                fail(ErrorKind::format, "{}: tensor {} of layer {} in a {}-layer model",
                     src.string(), name, l, n_layers);
            for (int ii : instances[l]) add(m[1].str() + std::to_string(ii) + m[3].str());
        } else {
            add(name);
        }
    }
    config["num_hidden_layers"] = plan.n_instances();
    for (const char* per_layer : {"layer_types"})  // lists with one entry per layer follow it
        if (config.contains(per_layer) && config[per_layer].is_array() &&
            int(config[per_layer].size()) == n_layers) {
            json out = json::array();
            for (int l : plan.layers) out.push_back(config[per_layer][size_t(l)]);
            config[per_layer] = out;
        }

    const fs::path tmp = fs::path(out_dir).string() + ".tmp-" + std::to_string(::getpid());
    fs::remove_all(tmp);
    std::error_code ec;
    fs::create_directories(tmp, ec);
    if (ec) fail(ErrorKind::io, "{}: cannot create ({})", tmp.string(), ec.message());
    try {
        write_safetensors((tmp / "model.safetensors").string(), tensors,
                          {{"format", "pt"}, {"encore_layers", plan.to_spec()}});
        write_text(tmp / "config.json", config.dump(2) + "\n");
        for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json",
                              "special_tokens_map.json", "tokenizer.model", "chat_template.jinja"})
            if (fs::exists(src / f)) fs::copy_file(src / f, tmp / f);
        fs::rename(tmp, out_dir);
    } catch (...) {
        fs::remove_all(tmp, ec);
        throw;
    }
}

void export_gguf(std::shared_ptr<const Model> model, const LayerPlan& plan,
                 const std::string& out_path, const std::string& type) {
    check_target_free(out_path);
    DType dtype = model->weights().layers.at(0).wq.dtype;
    if (type == "f32")
        dtype = DType::f32;
    else if (type == "f16")
        dtype = DType::f16;
    else if (type == "bf16")
        dtype = DType::bf16;
    else if (type == "q8_0")
        dtype = DType::q8_0;
    else if (!type.empty())
        fail(ErrorKind::invalid_argument, "--type '{}': expected f32, f16, bf16 or q8_0", type);
    // The same weights with every instance's layer physically present: views into the source's
    // memory (kept alive by `model`), written out once per instance.
    ModelSpec spec = model->spec();
    spec.n_layers = plan.n_instances();
    Weights w = model->weights();
    w.layers.clear();
    for (int l : plan.layers) w.layers.push_back(model->weights().layers.at(size_t(l)));
    auto tokenizer =
        model->has_tokenizer() ? std::make_shared<Tokenizer>(model->tokenizer()) : nullptr;
    const Model repeated(spec, w, tokenizer, model->path(), model->format(),
                         {std::const_pointer_cast<Model>(model)});
    write_gguf_model(repeated, out_path, dtype);
}

std::string mergekit_yaml(const LayerPlan& plan, const std::string& model_name,
                          const std::string& dtype) {
    std::string out = "slices:\n";
    const auto& L = plan.layers;
    for (size_t a = 0; a < L.size();) {
        size_t b = a + 1;
        while (b < L.size() && L[b] == L[b - 1] + 1) ++b;
        out += fmt::format("  - sources:\n      - model: {}\n        layer_range: [{}, {}]\n",
                           json(model_name).dump(), L[a], L[b - 1] + 1);
        a = b;
    }
    out += "merge_method: passthrough\n";
    out += "dtype: " + dtype + "\n";
    return out;
}

void export_mergekit(const Model& model, const LayerPlan& plan, const std::string& out_path) {
    check_target_free(out_path);
    write_text(out_path, "# layer plan " + plan.to_spec() + "\n" +
                             mergekit_yaml(plan, model.path(), torch_dtype(model)));
}

}  // namespace encore
