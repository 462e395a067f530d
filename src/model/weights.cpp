// Binding and validating weight tensors by name (see model.h), and the Model object itself.
#include <fmt/format.h>

#include <map>

#include "core/error.h"
#include "model/model.h"
#include "model/weight_alignment.h"

namespace encore {

namespace {

bool is_matrix_dtype(DType t) {
    return t == DType::f32 || t == DType::f16 || t == DType::bf16 || t == DType::q8_0 ||
           t == DType::q4_0;
}
bool is_vector_dtype(DType t) {
    return t == DType::f32 || t == DType::f16 || t == DType::bf16;
}

struct Binder {
    const TensorLookup& lookup;
    const std::string& where;

    TensorView get(const std::string& name, std::initializer_list<int64_t> shape, bool matrix,
                   bool required = true) const {
        const TensorView* t = lookup(name);
        if (!t) {
            if (!required) return TensorView{};
            fail(ErrorKind::format, "{}: missing tensor '{}'", where, name);
        }
        const std::vector<int64_t> want(shape);
        bool ok = t->n_dims == int(want.size());
        for (size_t i = 0; ok && i < want.size(); ++i) ok = t->shape[i] == want[i];
        if (!ok) {
            std::string w = "[";
            for (size_t i = 0; i < want.size(); ++i) w += (i ? ", " : "") + std::to_string(want[i]);
            fail(ErrorKind::format, "{}: tensor '{}' has shape {}, expected {}]", where, name,
                 t->shape_string(), w);
        }
        const size_t align = dtype_is_quantized(t->dtype) ? 2 : size_t(dtype_block_bytes(t->dtype));
        if (reinterpret_cast<uintptr_t>(t->data) % align != 0)
            fail(ErrorKind::unsupported,
                 "{}: tensor '{}' is not aligned to its {}-byte elements in the file (re-save the "
                 "checkpoint with a current safetensors)",
                 where, name, align);
        if (matrix ? !is_matrix_dtype(t->dtype) : !is_vector_dtype(t->dtype))
            fail(ErrorKind::unsupported, "{}: tensor '{}' has dtype {}, not supported here", where,
                 name, dtype_name(t->dtype));
        return *t;
    }
};

}  // namespace

Weights bind_hf_weights(const ModelSpec& spec, const TensorLookup& lookup,
                        const std::string& where) {
    Binder b{lookup, where};
    Weights w;
    const int64_t d = spec.n_embd, q = spec.q_dim(), kv = spec.kv_dim();
    w.tok_embd = b.get("model.embed_tokens.weight", {spec.vocab_size, d}, true);
    w.out_norm = b.get("model.norm.weight", {d}, false);
    if (spec.tied_embeddings) {
        w.output = w.tok_embd;
    } else {
        w.output = b.get("lm_head.weight", {spec.vocab_size, d}, true);
    }
    for (int64_t il = 0; il < spec.n_layers; ++il) {
        const std::string p = fmt::format("model.layers.{}.", il);
        LayerWeights L;
        L.attn_norm = b.get(p + "input_layernorm.weight", {d}, false);
        L.wq = b.get(p + "self_attn.q_proj.weight", {q, d}, true);
        L.wk = b.get(p + "self_attn.k_proj.weight", {kv, d}, true);
        L.wv = b.get(p + "self_attn.v_proj.weight", {kv, d}, true);
        L.wo = b.get(p + "self_attn.o_proj.weight", {d, q}, true);
        if (spec.qkv_bias) {
            L.bq = b.get(p + "self_attn.q_proj.bias", {q}, false);
            L.bk = b.get(p + "self_attn.k_proj.bias", {kv}, false);
            L.bv = b.get(p + "self_attn.v_proj.bias", {kv}, false);
        }
        if (spec.o_bias) L.bo = b.get(p + "self_attn.o_proj.bias", {d}, false);
        if (spec.qk_norm) {
            L.q_norm = b.get(p + "self_attn.q_norm.weight", {spec.head_dim}, false);
            L.k_norm = b.get(p + "self_attn.k_norm.weight", {spec.head_dim}, false);
        }
        L.ffn_norm = b.get(p + "post_attention_layernorm.weight", {d}, false);
        L.w_gate = b.get(p + "mlp.gate_proj.weight", {spec.n_ff, d}, true);
        L.w_up = b.get(p + "mlp.up_proj.weight", {spec.n_ff, d}, true);
        L.w_down = b.get(p + "mlp.down_proj.weight", {d, spec.n_ff}, true);
        w.layers.push_back(L);
    }
    return w;
}

Model::Model(ModelSpec spec, Weights weights, std::shared_ptr<Tokenizer> tokenizer,
             std::string path, std::string format, std::vector<std::shared_ptr<void>> keep_alive)
    : spec_(std::move(spec)),
      weights_(std::move(weights)),
      tokenizer_(std::move(tokenizer)),
      path_(std::move(path)),
      format_(std::move(format)),
      keep_alive_(std::move(keep_alive)) {
    AlignedWeights aligned = align_weights(weights_, default_alignment_memory_limit());
    if (aligned.block) keep_alive_.push_back(aligned.block);
    aligned_copy_bytes_ = aligned.copied_bytes;
    unaligned_bytes_ = aligned.unaligned_bytes;
    // Fingerprint: FNV-1a over the spec summary and, per tensor, its shape, dtype and a sample of
    // its bytes (start, middle, end), so different weights give different identities cheaply.
    uint64_t h = 1469598103934665603ull;
    auto mix = [&](const void* data, size_t n) {
        const auto* p = static_cast<const uint8_t*>(data);
        for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    };
    const std::string s = spec_.summary();
    mix(s.data(), s.size());
    auto mix_tensor = [&](const TensorView& t) {
        if (t.n_dims == 0) return;
        mix(t.shape.data(), sizeof(t.shape));
        mix(&t.dtype, sizeof(t.dtype));
        const size_t n = size_t(t.n_bytes()), k = std::min<size_t>(n, 256);
        const auto* p = static_cast<const uint8_t*>(t.data);
        mix(p, k);
        mix(p + n / 2 - std::min(n / 2, k / 2), k / 2);
        mix(p + n - k, k);
    };
    mix_tensor(weights_.tok_embd);
    mix_tensor(weights_.output);
    mix_tensor(weights_.out_norm);
    for (const auto& L : weights_.layers) for_each_tensor(L, mix_tensor);
    identity_ = fmt::format("{:016x}", h);
}

const Tokenizer& Model::tokenizer() const {
    if (!tokenizer_) {
        if (format_ == "gguf")
            fail(ErrorKind::invalid_argument,
                 "{}: the file has no vocabulary (tokenizer.ggml.model absent, none or no_vocab); "
                 "this needs a tokenizer (give token ids instead where the command takes them)",
                 path_);
        if (format_ == "safetensors")
            fail(ErrorKind::invalid_argument,
                 "{}/tokenizer.json: not found; this needs a tokenizer (give token ids instead "
                 "where the command takes them)",
                 path_);
        fail(ErrorKind::invalid_argument, "{}: the model has no tokenizer", path_);
    }
    return *tokenizer_;
}

namespace {
int64_t bytes_of(const TensorView& t) {
    return t.n_dims == 0 ? 0 : t.n_bytes();
}
int64_t layer_bytes(const LayerWeights& L) {
    int64_t n = 0;
    for_each_tensor(L, [&](const TensorView& t) { n += bytes_of(t); });
    return n;
}
}  // namespace

int64_t Model::weight_bytes() const {
    int64_t n = bytes_of(weights_.tok_embd) + bytes_of(weights_.out_norm);
    if (!spec_.tied_embeddings) n += bytes_of(weights_.output);
    for (const auto& L : weights_.layers) n += layer_bytes(L);
    return n;
}

std::vector<std::span<const uint8_t>> Model::weights_read_per_token(
    const std::vector<int>* plan_layers) const {
    std::vector<std::span<const uint8_t>> read;
    auto add = [&](const TensorView& t, int64_t bytes) {
        if (t.n_dims > 0) read.emplace_back(static_cast<const uint8_t*>(t.data), size_t(bytes));
    };
    add(weights_.tok_embd, weights_.tok_embd.row_bytes());
    auto add_layer = [&](const LayerWeights& L) {
        for_each_tensor(L, [&](const TensorView& t) { add(t, bytes_of(t)); });
    };
    if (!plan_layers) {
        for (const auto& L : weights_.layers) add_layer(L);
    } else {
        for (int il : *plan_layers) add_layer(weights_.layers[size_t(il)]);
    }
    add(weights_.out_norm, bytes_of(weights_.out_norm));
    add(weights_.output, bytes_of(weights_.output));
    return read;
}

int64_t Model::weight_bytes_per_token(const std::vector<int>* plan_layers) const {
    int64_t n = 0;
    for (const auto& r : weights_read_per_token(plan_layers)) n += int64_t(r.size());
    return n;
}

std::string Model::dtype_summary() const {
    std::map<std::string, int64_t> matrices, vectors;
    auto add = [&](const TensorView& t) {
        if (t.n_dims == 0) return;
        (t.n_dims >= 2 ? matrices : vectors)[std::string(dtype_name(t.dtype))] += t.n_elements();
    };
    add(weights_.tok_embd);
    add(weights_.out_norm);
    if (!spec_.tied_embeddings) add(weights_.output);
    for (const auto& L : weights_.layers) for_each_tensor(L, add);
    auto join = [](const std::map<std::string, int64_t>& m) {
        std::string s;
        for (const auto& [k, v] : m) s += (s.empty() ? "" : "+") + k;
        return s;
    };
    const std::string m = join(matrices), v = join(vectors);
    return m == v ? m : fmt::format("{} (matrices), {} (vectors)", m, v);
}

}  // namespace encore
