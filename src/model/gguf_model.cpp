// Reading and writing Llama-family GGUF files (see gguf_model.h).
#include "model/gguf_model.h"

#include <fmt/format.h>

#include <cstring>
#include <map>
#include <optional>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "model/rope.h"
#include "model/weight_alignment.h"
#include "tokenizer/tokenizer.h"

namespace encore {

namespace {

// HF name suffix (per layer) <-> llama.cpp name suffix.
struct NamePair {
    const char* hf;
    const char* gguf;
};
constexpr NamePair k_layer_names[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.bias", "attn_output.bias"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
};

std::string gguf_name_of(const std::string& hf) {
    if (hf == "model.embed_tokens.weight") return "token_embd.weight";
    if (hf == "model.norm.weight") return "output_norm.weight";
    if (hf == "lm_head.weight") return "output.weight";
    const std::string prefix = "model.layers.";
    if (hf.rfind(prefix, 0) == 0) {
        const size_t dot = hf.find('.', prefix.size());
        const std::string il = hf.substr(prefix.size(), dot - prefix.size());
        const std::string rest = hf.substr(dot + 1);
        for (const NamePair& p : k_layer_names)
            if (rest == p.hf) return "blk." + il + "." + p.gguf;
    }
    return "";
}

// llama.cpp stores q and k rows of the llama architecture permuted so that each head's rotation
// pairs are adjacent: file row (h, i, j) holds HF row (h, j, i), i < head_dim/2, j in {0, 1}.
// `to_file` maps HF order to file order; otherwise the reverse.
std::shared_ptr<std::vector<uint8_t>> permute_rows(const TensorView& t, int64_t n_heads,
                                                   bool to_file) {
    const int64_t rows = t.n_rows(), row_bytes = t.row_bytes();
    const int64_t head_dim = rows / n_heads, half = head_dim / 2;
    auto out = std::make_shared<std::vector<uint8_t>>(size_t(rows * row_bytes));
    for (int64_t h = 0; h < n_heads; ++h)
        for (int64_t j = 0; j < 2; ++j)
            for (int64_t i = 0; i < half; ++i) {
                const int64_t hf_row = h * head_dim + j * half + i;
                const int64_t file_row = h * head_dim + i * 2 + j;
                const int64_t dst = to_file ? file_row : hf_row, src = to_file ? hf_row : file_row;
                std::memcpy(out->data() + dst * row_bytes, t.row(src), size_t(row_bytes));
            }
    return out;
}

std::optional<int64_t> optional_int(const GgufFile& f, const std::string& key) {
    if (!f.has(key)) return std::nullopt;
    return f.get_int(key);
}

ModelSpec spec_from_gguf(const GgufFile& f) {
    const std::string& path = f.path();
    if (!f.has("general.architecture"))
        fail(ErrorKind::format, "{}: missing metadata 'general.architecture'", path);
    const std::string arch = f.get_string("general.architecture");
    if (arch != "llama" && arch != "qwen2" && arch != "qwen3")
        fail(ErrorKind::unsupported,
             "{}: architecture '{}' is not supported (supported: llama, qwen2, qwen3)", path, arch);
    auto need = [&](const std::string& key) {
        if (!f.has(arch + "." + key))
            fail(ErrorKind::format, "{}: missing metadata '{}.{}'", path, arch, key);
        return f.get_int(arch + "." + key);
    };
    ModelSpec spec;
    spec.architecture = arch;
    spec.n_embd = need("embedding_length");
    spec.n_layers = need("block_count");
    spec.n_ff = need("feed_forward_length");
    spec.n_heads = need("attention.head_count");
    spec.n_kv_heads = optional_int(f, arch + ".attention.head_count_kv").value_or(spec.n_heads);
    spec.max_position = optional_int(f, arch + ".context_length").value_or(0);
    if (spec.n_embd <= 0 || spec.n_layers <= 0 || spec.n_ff <= 0 || spec.n_heads <= 0 ||
        spec.n_kv_heads <= 0 || spec.n_heads % spec.n_kv_heads != 0)
        fail(ErrorKind::format, "{}: inconsistent hyper-parameters ({} heads, {} kv heads)", path,
             spec.n_heads, spec.n_kv_heads);
    spec.head_dim =
        optional_int(f, arch + ".attention.key_length").value_or(spec.n_embd / spec.n_heads);
    if (spec.head_dim <= 0 || spec.head_dim % 2 != 0)
        fail(ErrorKind::format, "{}: head dimension {} must be positive and even", path,
             spec.head_dim);
    spec.rms_norm_eps = f.has(arch + ".attention.layer_norm_rms_epsilon")
                            ? f.get_float(arch + ".attention.layer_norm_rms_epsilon")
                            : 1e-5;
    spec.rope.theta =
        f.has(arch + ".rope.freq_base") ? f.get_float(arch + ".rope.freq_base") : 10000.0;
    if (f.has(arch + ".rope.scaling.type")) {
        const std::string type = f.get_string(arch + ".rope.scaling.type");
        if (type == "linear") {
            spec.rope.scaling = RopeScaling::linear;
            spec.rope.factor = f.get_float(arch + ".rope.scaling.factor");
        } else if (type != "none") {
            fail(ErrorKind::unsupported, "{}: rope scaling '{}' is not supported", path, type);
        }
    }
    if (const TensorView* freqs = f.find("rope_freqs.weight")) {
        spec.rope.freq_factors.resize(size_t(freqs->n_elements()));
        dequantize_row(freqs->dtype, freqs->data, spec.rope.freq_factors.data(),
                       freqs->n_elements());
    }
    const TensorView* embd = f.find("token_embd.weight");
    if (!embd) fail(ErrorKind::format, "{}: missing tensor 'token_embd.weight'", path);
    spec.vocab_size = embd->dim(0);
    spec.tied_embeddings = f.find("output.weight") == nullptr;
    spec.qkv_bias = f.find("blk.0.attn_q.bias") != nullptr;
    spec.o_bias = f.find("blk.0.attn_output.bias") != nullptr;
    spec.qk_norm = f.find("blk.0.attn_q_norm.weight") != nullptr;
    if (auto bos = optional_int(f, "tokenizer.ggml.bos_token_id")) spec.bos_token_id = *bos;
    if (auto eos = optional_int(f, "tokenizer.ggml.eos_token_id")) spec.eos_token_ids = {*eos};
    return spec;
}

// Weights-only files (llama.cpp's convention) say `tokenizer.ggml.model` = "none" or "no_vocab",
// or have no tokenizer keys at all.
bool gguf_has_vocabulary(const GgufFile& f) {
    if (!f.has("tokenizer.ggml.model")) return false;
    const std::string model = f.get_string("tokenizer.ggml.model");
    return model != "none" && model != "no_vocab";
}

GgufTokenizerData tokenizer_data_from_gguf(const GgufFile& f) {
    if (!f.has("tokenizer.ggml.tokens"))
        fail(ErrorKind::format,
             "{}: tokenizer.ggml.model is '{}' but tokenizer.ggml.tokens is missing", f.path(),
             f.get_string("tokenizer.ggml.model"));
    GgufTokenizerData d;
    d.model = f.get_string("tokenizer.ggml.model");
    if (f.has("tokenizer.ggml.pre")) d.pre = f.get_string("tokenizer.ggml.pre");
    d.tokens = f.get_string_array("tokenizer.ggml.tokens");
    if (f.has("tokenizer.ggml.scores")) d.scores = f.get_float_array("tokenizer.ggml.scores");
    if (f.has("tokenizer.ggml.token_type"))
        for (int64_t t : f.get_int_array("tokenizer.ggml.token_type"))
            d.token_types.push_back(int32_t(t));
    if (f.has("tokenizer.ggml.merges")) d.merges = f.get_string_array("tokenizer.ggml.merges");
    d.bos_id = optional_int(f, "tokenizer.ggml.bos_token_id");
    d.eos_id = optional_int(f, "tokenizer.ggml.eos_token_id");
    d.unk_id = optional_int(f, "tokenizer.ggml.unknown_token_id");
    d.pad_id = optional_int(f, "tokenizer.ggml.padding_token_id");
    if (f.has("tokenizer.ggml.add_bos_token"))
        d.add_bos = f.get_bool("tokenizer.ggml.add_bos_token");
    if (f.has("tokenizer.ggml.add_eos_token"))
        d.add_eos = f.get_bool("tokenizer.ggml.add_eos_token");
    return d;
}

}  // namespace

std::shared_ptr<Model> load_gguf_model(const std::string& path) {
    auto file = std::make_shared<GgufFile>(GgufFile::open(path));
    ModelSpec spec = spec_from_gguf(*file);
    std::vector<std::shared_ptr<void>> keep_alive{file};
    std::map<std::string, TensorView> unpermuted;  // llama q/k rows back in HF order
    TensorLookup lookup = [&](const std::string& hf_name) -> const TensorView* {
        const std::string name = gguf_name_of(hf_name);
        if (name.empty()) return nullptr;
        const TensorView* t = file->find(name);
        if (!t || spec.architecture != "llama") return t;
        const bool is_q = name.find(".attn_q.") != std::string::npos;
        const bool is_k = name.find(".attn_k.") != std::string::npos;
        if (!is_q && !is_k) return t;
        auto it = unpermuted.find(name);
        if (it == unpermuted.end()) {
            const int64_t heads = is_q ? spec.n_heads : spec.n_kv_heads;
            if (t->n_dims < 1 || t->dim(0) != heads * spec.head_dim) return t;  // bind reports it
            TensorView v = *t;
            if (t->n_dims == 1) {  // a bias: permute its elements as one-element rows
                v.n_dims = 2;
                v.shape = {t->dim(0), 1, 0, 0};
            }
            auto buffer = permute_rows(v, heads, /*to_file=*/false);
            keep_alive.push_back(buffer);
            TensorView out = *t;
            out.data = buffer->data();
            it = unpermuted.emplace(name, out).first;
        }
        return &it->second;
    };
    Weights weights = bind_hf_weights(spec, lookup, path);
    std::shared_ptr<Tokenizer> tokenizer;  // optional, as for HF directories
    if (gguf_has_vocabulary(*file))
        tokenizer =
            std::make_shared<Tokenizer>(Tokenizer::from_gguf(tokenizer_data_from_gguf(*file)));
    return std::make_shared<Model>(std::move(spec), std::move(weights), std::move(tokenizer), path,
                                   "gguf", std::move(keep_alive));
}

void write_gguf_model(const Model& model, const std::string& path, DType matrix_dtype) {
    const ModelSpec& spec = model.spec();
    if (matrix_dtype == DType::q4_0 || matrix_dtype == DType::i32)
        fail(ErrorKind::unsupported,
             "convert: output type {} is not supported (f32, f16, bf16, "
             "q8_0)",
             dtype_name(matrix_dtype));
    const std::string arch = spec.architecture == "mistral" ? "llama" : spec.architecture;
    GgufWriter w;
    w.set_string("general.architecture", arch);
    w.set_string("general.name", spec.architecture);
    const uint32_t file_type = matrix_dtype == DType::f32    ? 0
                               : matrix_dtype == DType::f16  ? 1
                               : matrix_dtype == DType::q8_0 ? 7
                                                             : 32;
    w.set_u32("general.file_type", file_type);
    // Tensors on cache lines, so a model loads from this file without copies (weight_alignment.h).
    w.set_u32("general.alignment", uint32_t(k_weight_alignment));
    w.set_u32(arch + ".context_length", uint32_t(spec.max_position > 0 ? spec.max_position : 2048));
    w.set_u32(arch + ".embedding_length", uint32_t(spec.n_embd));
    w.set_u32(arch + ".block_count", uint32_t(spec.n_layers));
    w.set_u32(arch + ".feed_forward_length", uint32_t(spec.n_ff));
    w.set_u32(arch + ".attention.head_count", uint32_t(spec.n_heads));
    w.set_u32(arch + ".attention.head_count_kv", uint32_t(spec.n_kv_heads));
    w.set_u32(arch + ".attention.key_length", uint32_t(spec.head_dim));
    w.set_u32(arch + ".attention.value_length", uint32_t(spec.head_dim));
    w.set_u32(arch + ".rope.dimension_count", uint32_t(spec.head_dim));
    w.set_f32(arch + ".rope.freq_base", float(spec.rope.theta));
    w.set_f32(arch + ".attention.layer_norm_rms_epsilon", float(spec.rms_norm_eps));
    w.set_u32(arch + ".vocab_size", uint32_t(spec.vocab_size));
    if (spec.rope.scaling == RopeScaling::linear) {
        w.set_string(arch + ".rope.scaling.type", "linear");
        w.set_f32(arch + ".rope.scaling.factor", float(spec.rope.factor));
    }

    const GgufTokenizerData tok =
        model.has_tokenizer() ? model.tokenizer().to_gguf() : GgufTokenizerData{};
    // Without a tokenizer, llama.cpp's mark of a weights-only file (which llama.cpp loads).
    w.set_string("tokenizer.ggml.model", model.has_tokenizer() ? tok.model : "none");
    if (!tok.pre.empty()) w.set_string("tokenizer.ggml.pre", tok.pre);
    if (!tok.tokens.empty()) w.set_string_array("tokenizer.ggml.tokens", tok.tokens);
    if (!tok.scores.empty()) w.set_f32_array("tokenizer.ggml.scores", tok.scores);
    if (!tok.token_types.empty()) w.set_i32_array("tokenizer.ggml.token_type", tok.token_types);
    if (!tok.merges.empty()) w.set_string_array("tokenizer.ggml.merges", tok.merges);
    if (tok.bos_id) w.set_u32("tokenizer.ggml.bos_token_id", uint32_t(*tok.bos_id));
    if (tok.eos_id) w.set_u32("tokenizer.ggml.eos_token_id", uint32_t(*tok.eos_id));
    if (tok.unk_id) w.set_u32("tokenizer.ggml.unknown_token_id", uint32_t(*tok.unk_id));
    if (tok.pad_id) w.set_u32("tokenizer.ggml.padding_token_id", uint32_t(*tok.pad_id));
    if (tok.add_bos) w.set_bool("tokenizer.ggml.add_bos_token", *tok.add_bos);
    if (tok.add_eos) w.set_bool("tokenizer.ggml.add_eos_token", *tok.add_eos);

    // Tensor data converted here must outlive write().
    std::vector<std::shared_ptr<std::vector<uint8_t>>> buffers;
    auto convert = [&](const TensorView& t, DType to) -> const void* {
        if (t.dtype == to) return t.data;
        const int64_t rows = t.n_rows(), cols = t.row_elems();
        auto out = std::make_shared<std::vector<uint8_t>>(size_t(rows * dtype_row_bytes(to, cols)));
        std::vector<float> row_f32(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
            dequantize_row(t.dtype, t.row(r), row_f32.data(), cols);
            quantize_row(to, row_f32.data(), out->data() + r * dtype_row_bytes(to, cols), cols);
        }
        buffers.push_back(out);
        return out->data();
    };
    auto add = [&](const std::string& hf_name, const TensorView& t, bool matrix,
                   int64_t permute_heads) {
        if (t.n_dims == 0) return;
        DType to = DType::f32;
        if (matrix) {
            to = matrix_dtype;
            if (dtype_is_quantized(to) && t.row_elems() % k_quant_block != 0)
                to = dtype_is_quantized(t.dtype) ? DType::f32 : t.dtype;  // as llama.cpp does
        }
        const void* data = convert(t, to);
        TensorView converted = t;
        converted.data = data;
        converted.dtype = to;
        if (permute_heads > 0) {
            TensorView rows_view = converted;
            if (t.n_dims == 1) {
                rows_view.n_dims = 2;
                rows_view.shape = {t.dim(0), 1, 0, 0};
            }
            auto p = permute_rows(rows_view, permute_heads, /*to_file=*/true);
            buffers.push_back(p);
            data = p->data();
        }
        std::vector<int64_t> shape(t.shape.begin(), t.shape.begin() + t.n_dims);
        w.add_tensor(gguf_name_of(hf_name), to, shape, data);
    };
    const Weights& wt = model.weights();
    add("model.embed_tokens.weight", wt.tok_embd, true, 0);
    if (!spec.tied_embeddings) add("lm_head.weight", wt.output, true, 0);
    add("model.norm.weight", wt.out_norm, false, 0);
    std::vector<float> freq_factors;
    if (spec.rope.scaling == RopeScaling::llama3 || !spec.rope.freq_factors.empty()) {
        freq_factors =
            spec.rope.freq_factors.empty() ? llama3_freq_factors(spec) : spec.rope.freq_factors;
        w.add_tensor("rope_freqs.weight", DType::f32, {int64_t(freq_factors.size())},
                     freq_factors.data());
    }
    const bool permute = arch == "llama";
    for (int64_t il = 0; il < spec.n_layers; ++il) {
        const LayerWeights& L = wt.layers[size_t(il)];
        const std::string p = fmt::format("model.layers.{}.", il);
        add(p + "input_layernorm.weight", L.attn_norm, false, 0);
        add(p + "self_attn.q_proj.weight", L.wq, true, permute ? spec.n_heads : 0);
        add(p + "self_attn.k_proj.weight", L.wk, true, permute ? spec.n_kv_heads : 0);
        add(p + "self_attn.v_proj.weight", L.wv, true, 0);
        add(p + "self_attn.o_proj.weight", L.wo, true, 0);
        add(p + "self_attn.q_proj.bias", L.bq, false, permute ? spec.n_heads : 0);
        add(p + "self_attn.k_proj.bias", L.bk, false, permute ? spec.n_kv_heads : 0);
        add(p + "self_attn.v_proj.bias", L.bv, false, 0);
        add(p + "self_attn.o_proj.bias", L.bo, false, 0);
        add(p + "self_attn.q_norm.weight", L.q_norm, false, 0);
        add(p + "self_attn.k_norm.weight", L.k_norm, false, 0);
        add(p + "post_attention_layernorm.weight", L.ffn_norm, false, 0);
        add(p + "mlp.gate_proj.weight", L.w_gate, true, 0);
        add(p + "mlp.up_proj.weight", L.w_up, true, 0);
        add(p + "mlp.down_proj.weight", L.w_down, true, 0);
    }
    w.write(path);
}

}  // namespace encore
