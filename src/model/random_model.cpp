// Random-weight models (see random_model.h). Filling uses a per-tensor xorshift generator so a
// seed gives the same model on every run.
#include "model/random_model.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>
#include <thread>
#include <vector>

#include "core/error.h"

namespace encore {

ModelSpec llama32_1b_spec() {
    ModelSpec s;
    s.architecture = "llama";
    s.vocab_size = 128256;
    s.n_embd = 2048;
    s.n_ff = 8192;
    s.n_layers = 16;
    s.n_heads = 32;
    s.n_kv_heads = 8;
    s.head_dim = 64;
    s.rms_norm_eps = 1e-5;
    s.max_position = 131072;
    s.rope.theta = 500000.0;
    s.rope.scaling = RopeScaling::llama3;
    s.rope.factor = 32.0;
    s.rope.low_freq_factor = 1.0;
    s.rope.high_freq_factor = 4.0;
    s.rope.original_max_position = 8192;
    s.tied_embeddings = true;
    s.bos_token_id = 128000;
    s.eos_token_ids = {128001};
    return s;
}

ModelSpec llama3_8b_spec() {
    ModelSpec s = llama32_1b_spec();
    s.n_embd = 4096;
    s.n_ff = 14336;
    s.n_layers = 32;
    s.n_heads = 32;
    s.n_kv_heads = 8;
    s.head_dim = 128;
    s.rope.factor = 8.0;
    s.tied_embeddings = false;
    return s;
}

namespace {

struct Storage {
    std::vector<std::vector<uint8_t>> buffers;
};

uint64_t next(uint64_t& state) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

}  // namespace

std::shared_ptr<Model> make_random_model(const ModelSpec& spec, DType dtype, uint64_t seed) {
    auto storage = std::make_shared<Storage>();
    uint64_t tensor_seed = seed * 0x9E3779B97F4A7C15ull + 1;
    // Tensors are filled after all are made, several at once (each from its own seed, so the
    // values do not depend on the order): an 8B-parameter model takes seconds, not minutes.
    std::vector<std::function<void()>> fills;
    // Makes a tensor of `shape` in `type` with values center + uniform(-a, a), a = std*sqrt(3).
    auto make = [&](std::initializer_list<int64_t> shape, DType type, float center, float std) {
        TensorView t = make_view(nullptr, type, shape);
        const int64_t cols = t.row_elems(), rows = t.n_rows();
        storage->buffers.emplace_back(size_t(rows * dtype_row_bytes(type, cols)));
        uint8_t* data = storage->buffers.back().data();
        const uint64_t state0 = (tensor_seed += 0x9E3779B97F4A7C15ull) | 1;
        const float a = std * std::sqrt(3.0f);
        fills.push_back([=] {
            uint64_t state = state0;
            std::vector<float> row(static_cast<size_t>(cols));
            for (int64_t r = 0; r < rows; ++r) {
                for (auto& v : row)
                    v = center + a * (float(next(state) >> 40) * (2.0f / float(1 << 24)) - 1.0f);
                quantize_row(type, row.data(), data + r * dtype_row_bytes(type, cols), cols);
            }
        });
        t.data = data;
        return t;
    };
    const int64_t d = spec.n_embd, q = spec.q_dim(), kv = spec.kv_dim(), f = spec.n_ff;
    const float sd = 1.0f / std::sqrt(float(d));
    Weights w;
    w.tok_embd = make({spec.vocab_size, d}, dtype, 0.0f, 1.0f);
    w.out_norm = make({d}, DType::f32, 1.0f, 0.1f);
    w.output = spec.tied_embeddings ? w.tok_embd : make({spec.vocab_size, d}, dtype, 0.0f, sd);
    for (int64_t il = 0; il < spec.n_layers; ++il) {
        LayerWeights L;
        L.attn_norm = make({d}, DType::f32, 1.0f, 0.1f);
        L.wq = make({q, d}, dtype, 0.0f, sd);
        L.wk = make({kv, d}, dtype, 0.0f, sd);
        L.wv = make({kv, d}, dtype, 0.0f, sd);
        L.wo = make({d, q}, dtype, 0.0f, 1.0f / std::sqrt(float(q)));
        if (spec.qkv_bias) {
            L.bq = make({q}, DType::f32, 0.0f, 0.1f);
            L.bk = make({kv}, DType::f32, 0.0f, 0.1f);
            L.bv = make({kv}, DType::f32, 0.0f, 0.1f);
        }
        if (spec.qk_norm) {
            L.q_norm = make({spec.head_dim}, DType::f32, 1.0f, 0.1f);
            L.k_norm = make({spec.head_dim}, DType::f32, 1.0f, 0.1f);
        }
        L.ffn_norm = make({d}, DType::f32, 1.0f, 0.1f);
        L.w_gate = make({f, d}, dtype, 0.0f, sd);
        L.w_up = make({f, d}, dtype, 0.0f, sd);
        L.w_down = make({d, f}, dtype, 0.0f, 1.0f / std::sqrt(float(f)));
        w.layers.push_back(L);
    }
    std::atomic<size_t> next_fill{0};
    auto worker = [&] {
        for (size_t i; (i = next_fill++) < fills.size();) fills[i]();
    };
    std::vector<std::thread> threads;
    const unsigned n_threads = std::max(1u, std::min(16u, std::thread::hardware_concurrency()));
    for (unsigned t = 1; t < n_threads; ++t) threads.emplace_back(worker);
    worker();
    for (auto& t : threads) t.join();
    return std::make_shared<Model>(spec, std::move(w), nullptr, "random", "memory",
                                   std::vector<std::shared_ptr<void>>{storage});
}

}  // namespace encore
