// Reading ModelSpec from a Hugging Face config.json (see model_spec.h). Both RoPE forms are
// accepted: the classic `rope_theta` + `rope_scaling` and the newer `rope_parameters` object.
#include "model/model_spec.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"

namespace encore {

int64_t ModelSpec::n_params() const {
    const int64_t attn = n_embd * q_dim() + 2 * n_embd * kv_dim() + q_dim() * n_embd +
                         (qkv_bias ? q_dim() + 2 * kv_dim() : 0) + (o_bias ? n_embd : 0) +
                         (qk_norm ? 2 * head_dim : 0);
    const int64_t mlp = 3 * n_embd * n_ff;
    const int64_t layer = attn + mlp + 2 * n_embd;
    return vocab_size * n_embd * (tied_embeddings ? 1 : 2) + n_layers * layer + n_embd;
}

std::string ModelSpec::summary() const {
    return fmt::format(
        "{}: {} layers, hidden {}, heads {}/{} (head_dim {}), ffn {}, vocab {}, rope theta {}{}{}",
        architecture, n_layers, n_embd, n_heads, n_kv_heads, head_dim, n_ff, vocab_size,
        rope.theta,
        rope.scaling == RopeScaling::none
            ? ""
            : fmt::format(" ({} x{})", rope.scaling == RopeScaling::linear ? "linear" : "llama3",
                          rope.factor),
        tied_embeddings ? ", tied embeddings" : "");
}

namespace {

using nlohmann::json;

const json& require(const json& obj, const char* key, const std::string& path) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null())
        fail(ErrorKind::format, "{}: missing field '{}'", path, key);
    return *it;
}

int64_t require_int(const json& obj, const char* key, const std::string& path, int64_t min = 1) {
    const json& v = require(obj, key, path);
    if (!v.is_number_integer())
        fail(ErrorKind::format, "{}: field '{}' must be an integer, got {}", path, key, v.dump());
    const int64_t x = v.get<int64_t>();
    if (x < min) fail(ErrorKind::format, "{}: field '{}' must be >= {}, got {}", path, key, min, x);
    return x;
}

double number_or(const json& obj, const char* key, double fallback, const std::string& path) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_number())
        fail(ErrorKind::format, "{}: field '{}' must be a number, got {}", path, key, it->dump());
    return it->get<double>();
}

bool bool_or(const json& obj, const char* key, bool fallback, const std::string& path) {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return fallback;
    if (!it->is_boolean())
        fail(ErrorKind::format, "{}: field '{}' must be true or false, got {}", path, key,
             it->dump());
    return it->get<bool>();
}

// Applies a rope scaling object ({"rope_type"|"type": ..., "factor": ...}) to `rope`.
void read_rope_scaling(const json& scaling, RopeSpec& rope, const std::string& path,
                       const char* field) {
    if (!scaling.is_object())
        fail(ErrorKind::format, "{}: '{}' must be an object, got {}", path, field, scaling.dump());
    std::string type = "default";
    if (auto it = scaling.find("rope_type"); it != scaling.end() && it->is_string())
        type = it->get<std::string>();
    else if (auto it2 = scaling.find("type"); it2 != scaling.end() && it2->is_string())
        type = it2->get<std::string>();
    const std::string where = fmt::format("{}: {}", path, field);
    if (type == "default") {
        rope.scaling = RopeScaling::none;
    } else if (type == "linear") {
        rope.scaling = RopeScaling::linear;
        rope.factor = number_or(scaling, "factor", 0.0, where);
    } else if (type == "llama3") {
        rope.scaling = RopeScaling::llama3;
        rope.factor = number_or(scaling, "factor", 0.0, where);
        rope.low_freq_factor = number_or(scaling, "low_freq_factor", 1.0, where);
        rope.high_freq_factor = number_or(scaling, "high_freq_factor", 4.0, where);
        rope.original_max_position =
            int64_t(number_or(scaling, "original_max_position_embeddings", 8192, where));
        if (rope.high_freq_factor <= rope.low_freq_factor)
            fail(ErrorKind::format, "{}: high_freq_factor must exceed low_freq_factor", where);
    } else {
        fail(ErrorKind::unsupported, "{}: rope type '{}' is not supported (supported: default, "
             "linear, llama3)", where, type);
    }
    if (rope.scaling != RopeScaling::none && !(rope.factor > 0))
        fail(ErrorKind::format, "{}: 'factor' must be a positive number", where);
}

}  // namespace

ModelSpec spec_from_hf_config(const json& config, const std::string& path) {
    if (!config.is_object()) fail(ErrorKind::format, "{}: not a JSON object", path);
    ModelSpec spec;
    const json& type = require(config, "model_type", path);
    if (!type.is_string())
        fail(ErrorKind::format, "{}: field 'model_type' must be a string", path);
    spec.architecture = type.get<std::string>();
    if (spec.architecture != "llama" && spec.architecture != "mistral" &&
        spec.architecture != "qwen2" && spec.architecture != "qwen3")
        fail(ErrorKind::unsupported,
             "{}: model_type '{}' is not supported (supported: llama, mistral, qwen2, qwen3)", path,
             spec.architecture);

    spec.vocab_size = require_int(config, "vocab_size", path);
    spec.n_embd = require_int(config, "hidden_size", path);
    spec.n_ff = require_int(config, "intermediate_size", path);
    spec.n_layers = require_int(config, "num_hidden_layers", path);
    spec.n_heads = require_int(config, "num_attention_heads", path);
    spec.n_kv_heads = config.contains("num_key_value_heads") &&
                              !config["num_key_value_heads"].is_null()
                          ? require_int(config, "num_key_value_heads", path)
                          : spec.n_heads;
    if (spec.n_heads % spec.n_kv_heads != 0)
        fail(ErrorKind::format,
             "{}: num_attention_heads ({}) is not a multiple of num_key_value_heads ({})", path,
             spec.n_heads, spec.n_kv_heads);
    if (config.contains("head_dim") && !config["head_dim"].is_null()) {
        spec.head_dim = require_int(config, "head_dim", path);
    } else {
        if (spec.n_embd % spec.n_heads != 0)
            fail(ErrorKind::format, "{}: hidden_size {} is not a multiple of num_attention_heads {}",
                 path, spec.n_embd, spec.n_heads);
        spec.head_dim = spec.n_embd / spec.n_heads;
    }
    if (spec.head_dim % 2 != 0)
        fail(ErrorKind::format, "{}: head_dim {} must be even for RoPE", path, spec.head_dim);
    spec.rms_norm_eps = number_or(config, "rms_norm_eps", 1e-6, path);
    if (!(spec.rms_norm_eps > 0)) fail(ErrorKind::format, "{}: rms_norm_eps must be > 0", path);
    spec.max_position = int64_t(number_or(config, "max_position_embeddings", 0, path));

    if (auto it = config.find("hidden_act"); it != config.end() && !it->is_null()) {
        if (!it->is_string() || (it->get<std::string>() != "silu"))
            fail(ErrorKind::unsupported, "{}: hidden_act {} is not supported (only silu)", path,
                 it->dump());
    }
    if (bool_or(config, "mlp_bias", false, path))
        fail(ErrorKind::unsupported, "{}: mlp_bias true is not supported", path);

    // RoPE: the newer `rope_parameters` object, else `rope_theta` + `rope_scaling`.
    if (auto it = config.find("rope_parameters"); it != config.end() && !it->is_null()) {
        spec.rope.theta = number_or(*it, "rope_theta", 10000.0, path + ": rope_parameters");
        read_rope_scaling(*it, spec.rope, path, "rope_parameters");
    } else {
        spec.rope.theta = number_or(config, "rope_theta", 10000.0, path);
        if (auto sc = config.find("rope_scaling"); sc != config.end() && !sc->is_null())
            read_rope_scaling(*sc, spec.rope, path, "rope_scaling");
    }
    if (!(spec.rope.theta > 0)) fail(ErrorKind::format, "{}: rope_theta must be > 0", path);

    spec.tied_embeddings = bool_or(config, "tie_word_embeddings", false, path);
    if (spec.architecture == "qwen2") spec.qkv_bias = true;
    if (spec.architecture == "qwen3") spec.qk_norm = true;
    if ((spec.architecture == "llama" || spec.architecture == "qwen3") &&
        bool_or(config, "attention_bias", false, path)) {
        spec.qkv_bias = true;
        spec.o_bias = true;
    }
    // Sliding windows: mistral's `sliding_window`, qwen's only when use_sliding_window is true.
    bool sliding = spec.architecture == "mistral" ||
                   bool_or(config, "use_sliding_window", false, path);
    if (sliding) {
        if (auto it = config.find("sliding_window"); it != config.end() && it->is_number_integer())
            spec.sliding_window = it->get<int64_t>();
    }

    if (auto it = config.find("bos_token_id"); it != config.end() && it->is_number_integer())
        spec.bos_token_id = it->get<int64_t>();
    if (auto it = config.find("eos_token_id"); it != config.end()) {
        if (it->is_number_integer()) spec.eos_token_ids.push_back(it->get<int64_t>());
        if (it->is_array())
            for (const auto& e : *it)
                if (e.is_number_integer()) spec.eos_token_ids.push_back(e.get<int64_t>());
    }
    return spec;
}

ModelSpec load_hf_config(const std::string& path) {
    const std::string text = read_file(path);
    json config = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded()) fail(ErrorKind::format, "{}: not valid JSON", path);
    return spec_from_hf_config(config, path);
}

}  // namespace encore
