// Model: a loaded checkpoint — its ModelSpec, its weights as views into memory-mapped files (in
// their stored dtype, never converted up front), and its tokenizer. Loaded from a Hugging Face
// directory (config.json + safetensors, single or sharded, + tokenizer.json) or a GGUF file. The
// tokenizer is optional (a directory without tokenizer.json, a weights-only GGUF): the model then
// runs on token ids, and asking for its tokenizer is a one-line error naming the file.
#pragma once

#include <concepts>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/model_spec.h"

namespace encore {

class Tokenizer;

// Weights of one transformer layer. Optional tensors have n_dims == 0 when absent.
struct LayerWeights {
    TensorView attn_norm;       // [n_embd]
    TensorView wq, wk, wv, wo;  // [q_dim, n_embd], [kv_dim, n_embd] x2, [n_embd, q_dim]
    TensorView bq, bk, bv, bo;  // [q_dim], [kv_dim] x2, [n_embd] (optional)
    TensorView q_norm, k_norm;  // [head_dim] (qwen3)
    TensorView ffn_norm;        // [n_embd]
    TensorView w_gate, w_up;    // [n_ff, n_embd]
    TensorView w_down;          // [n_embd, n_ff]
};

// Calls f(TensorView&) on every tensor of a layer, present or not (const when the layer is).
template <typename Layer, typename F>
requires std::same_as<std::remove_const_t<Layer>, LayerWeights>
void for_each_tensor(Layer& L, F&& f) {
    for (auto* t : {&L.attn_norm, &L.wq, &L.wk, &L.wv, &L.wo, &L.bq, &L.bk, &L.bv, &L.bo, &L.q_norm,
                    &L.k_norm, &L.ffn_norm, &L.w_gate, &L.w_up, &L.w_down})
        f(*t);
}

struct Weights {
    TensorView tok_embd;               // [vocab, n_embd]
    std::vector<LayerWeights> layers;  // [n_layers]
    TensorView out_norm;               // [n_embd]
    TensorView output;                 // [vocab, n_embd] (tok_embd when tied)
};

class Model {
  public:
    // `path` is an HF model directory or a .gguf file.
    static std::shared_ptr<Model> load(const std::string& path);

    const ModelSpec& spec() const { return spec_; }
    const Weights& weights() const { return weights_; }
    // Fails with a clear error when the checkpoint came without a tokenizer.
    const Tokenizer& tokenizer() const;
    bool has_tokenizer() const { return tokenizer_ != nullptr; }
    const std::string& path() const { return path_; }
    const std::string& format() const { return format_; }  // "safetensors" or "gguf"
    // A short fingerprint of the weights and spec (used to key KV caches and saved prefixes).
    const std::string& identity() const { return identity_; }
    // Bytes of all weight tensors as stored (the tied embedding counted once).
    int64_t weight_bytes() const;
    // The memory a decoded token reads, in the order the forward pass reads it: one embedding
    // row, the tensors of every layer instance of the plan (all layers once when null), the
    // output norm and head.
    std::vector<std::span<const uint8_t>> weights_read_per_token(
        const std::vector<int>* plan_layers = nullptr) const;
    // Their total bytes.
    int64_t weight_bytes_per_token(const std::vector<int>* plan_layers = nullptr) const;
    // Bytes of weights copied onto cache-line boundaries when the model was made, and bytes left
    // off them because the copies would not fit in memory (see weight_alignment.h).
    int64_t aligned_copy_bytes() const { return aligned_copy_bytes_; }
    int64_t unaligned_bytes() const { return unaligned_bytes_; }
    // "bf16" or a mix such as "q8_0 (matrices), f32 (norms)".
    std::string dtype_summary() const;

    // Builds a model from a spec and a tensor lookup (used by the loaders and by tests that make
    // weights in memory). `keep_alive` holds whatever owns the tensor memory.
    Model(ModelSpec spec, Weights weights, std::shared_ptr<Tokenizer> tokenizer, std::string path,
          std::string format, std::vector<std::shared_ptr<void>> keep_alive);

  private:
    ModelSpec spec_;
    Weights weights_;
    std::shared_ptr<Tokenizer> tokenizer_;
    std::string path_, format_, identity_;
    int64_t aligned_copy_bytes_ = 0, unaligned_bytes_ = 0;
    std::vector<std::shared_ptr<void>> keep_alive_;
};

// Looks a tensor up by name; returns nullptr when absent.
using TensorLookup = std::function<const TensorView*(const std::string& name)>;

// Binds weights by Hugging Face tensor names, validating dtype and shape of each against `spec`.
Weights bind_hf_weights(const ModelSpec& spec, const TensorLookup& lookup,
                        const std::string& where);

}  // namespace encore
