// ModelSpec: the hyper-parameters of a Llama-family decoder, independent of where they were read
// (HF config.json or GGUF metadata). Every architecture quirk is a field here, never a copy of the
// forward pass: qwen2's q/k/v biases, qwen3's per-head q/k RMSNorm and explicit head_dim, tied
// embeddings, and the RoPE frequency scalings (none, linear, llama3).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace encore {

enum class RopeScaling { none, linear, llama3 };

struct RopeSpec {
    double theta = 10000.0;
    RopeScaling scaling = RopeScaling::none;
    double factor = 1.0;                  // linear and llama3
    double low_freq_factor = 1.0;         // llama3
    double high_freq_factor = 4.0;        // llama3
    int64_t original_max_position = 8192; // llama3
    // Per-frequency divisors of inv_freq, as GGUF stores llama3 scaling (`rope_freqs.weight`);
    // empty unless read from such a file.
    std::vector<float> freq_factors;
};

struct ModelSpec {
    std::string architecture;  // "llama", "mistral", "qwen2", "qwen3"
    int64_t vocab_size = 0;
    int64_t n_embd = 0;        // hidden size
    int64_t n_ff = 0;          // MLP intermediate size
    int64_t n_layers = 0;
    int64_t n_heads = 0;
    int64_t n_kv_heads = 0;
    int64_t head_dim = 0;      // n_embd / n_heads unless given explicitly (qwen3)
    double rms_norm_eps = 1e-5;
    int64_t max_position = 0;  // 0 = unknown
    RopeSpec rope;
    bool tied_embeddings = false;
    bool qkv_bias = false;     // qwen2 (and llama with attention_bias)
    bool o_bias = false;       // llama with attention_bias
    bool qk_norm = false;      // qwen3
    int64_t bos_token_id = -1;
    std::vector<int64_t> eos_token_ids;
    int64_t sliding_window = 0;  // 0 = full attention; longer sequences are refused

    int64_t q_dim() const { return n_heads * head_dim; }
    int64_t kv_dim() const { return n_kv_heads * head_dim; }
    // Parameters of the weights (embedding counted once when tied).
    int64_t n_params() const;
    std::string summary() const;
};

// Reads an HF config.json (`path` for messages). Fails naming the missing or bad field.
ModelSpec spec_from_hf_config(const nlohmann::json& config, const std::string& path);
ModelSpec load_hf_config(const std::string& path);

}  // namespace encore
