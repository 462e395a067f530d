// `encore bench --device cuda`: the GPU benchmark. A random-weight bf16 model of the Llama-3-8B
// shape (or --model), prefill tokens/s at 512, 2048 and 8192 tokens and decode tokens/s at batch
// 1, 8 and 64 after contexts of 512 and 4096, each as a fraction of the ceilings measured in the
// same run (a cuBLASLt bf16 8192^3 GEMM, a device-to-device copy; backend/cuda/ceilings.h).
//
// Prefill: one sequence, the whole prompt, logits of the last token; the fraction counts the
// GEMM work of the prompt (2 x matrix parameters x tokens, output head excluded), not attention.
// Decode: the batch's sequences are forks of one context (its KV blocks shared, as when scoring
// items against a rubric), one token each per step, logits of every item copied to the host each
// step; the fraction counts the bytes a step must read (every weight once, each item's K/V) over
// the copy bandwidth.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "backend/cuda/ceilings.h"
#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "engine/sequence.h"
#include "model/random_model.h"

namespace encore::cli {

namespace {

double gemm_flops_per_token(const ModelSpec& s, const LayerPlan& plan) {
    const double d = double(s.n_embd);
    const double per_layer =
        d * double(s.q_dim()) * 2 + d * double(s.kv_dim()) * 2 + 3 * d * double(s.n_ff);
    return 2.0 * per_layer * plan.n_instances();
}

}  // namespace

void run_device_bench(const DeviceBenchArgs& a) {
    fmt::print(stderr, "measuring the GPU's ceilings...\n");
    const DeviceCeilings c = measure_cuda_ceilings(a.device);
    std::shared_ptr<Model> model;
    std::string model_name;
    if (a.model.empty()) {
        fmt::print(stderr, "making a random-weight bf16 model of the Llama-3-8B shape...\n");
        model = make_random_model(llama3_8b_spec(), DType::bf16, 1);
        model_name = "random llama-3-8b shape, bf16";
    } else {
        model = Model::load(a.model);
        model_name = a.model;
    }
    const ModelSpec& spec = model->spec();
    const LayerPlan plan = LayerPlan::parse(a.layers, int(spec.n_layers));
    EngineOptions options;
    options.backend = "cuda";
    options.device = a.device;
    options.deterministic = a.deterministic;
    options.kv_type = a.kv_type;
    options.prefix_cache = false;  // every repeat computes its tokens
    options.max_batch_tokens = a.max_batch_tokens;
    const int64_t kv_bytes_per_position =
        int64_t(plan.n_instances()) * 2 * spec.kv_dim() * kv_type_bytes(a.kv_type);
    // Room for the longest prefill and for 64 decode items after a 4096-token context.
    options.kv_budget_bytes = kv_bytes_per_position * (8192 + 64 * 80 + 4096 + 1024);
    Engine engine(model, plan, options);
    std::mt19937 rng(7);
    auto random_tokens = [&](int64_t n) {
        std::vector<int32_t> t(static_cast<size_t>(n));
        for (auto& v : t) v = int32_t(rng() % uint32_t(spec.vocab_size));
        return t;
    };
    const double flops_per_token = gemm_flops_per_token(spec, plan);
    const double weight_bytes = double(model->weight_bytes_per_token(&plan.layers));

    fmt::print("device:      {} ({:.0f} GiB), {}\n", c.device_name, c.memory_gib,
               a.deterministic ? "deterministic" : "default (fastest algorithms)");
    fmt::print("model:       {} (KV cache {})\n", model_name, dtype_name(a.kv_type));
    fmt::print("ceilings:    bf16 GEMM 8192^3 {:.1f} TFLOP/s; device copy {:.1f} GB/s\n",
               c.gemm_tflops, c.copy_gbps);
    nlohmann::json out = {{"device", c.device_name},          {"model", model_name},
                          {"deterministic", a.deterministic}, {"kv_type", dtype_name(a.kv_type)},
                          {"gemm_tflops", c.gemm_tflops},     {"copy_gbps", c.copy_gbps}};

    fmt::print("{:<28} {:>12} {:>22}\n", "prefill (tokens)", "tokens/s", "of GEMM peak");
    Sequence warm(engine);
    warm.prefill(random_tokens(512), Logits::last);  // uploads the weights, builds the plans
    for (int64_t n : a.prefill) {
        const std::vector<int32_t> prompt = random_tokens(n);
        std::vector<double> secs;
        for (int r = 0; r < a.repeats + 1; ++r) {
            Sequence seq(engine);
            const auto t0 = Clock::now();
            seq.prefill(prompt, Logits::last);
            if (r > 0) secs.push_back(seconds_since(t0));  // the first is a warm-up
        }
        const double s = median(secs), tps = double(n) / s;
        const double fraction = flops_per_token * tps / (c.gemm_tflops * 1e12);
        fmt::print("{:<28} {:>12.0f} {:>21.1f}%\n", n, tps, 100 * fraction);
        out["prefill"].push_back({{"tokens", n}, {"tokens_per_s", tps}, {"of_gemm_peak", fraction}});
    }

    fmt::print("{:<28} {:>12} {:>22}\n", "decode (batch x context)", "tokens/s",
               "of copy bandwidth");
    for (int64_t context : a.contexts) {
        Sequence prefix(engine);
        prefix.prefill(random_tokens(context), Logits::none);
        for (int64_t batch : a.batches) {
            std::vector<std::unique_ptr<Sequence>> seqs;
            for (int64_t b = 0; b < batch; ++b) seqs.push_back(prefix.fork());
            std::vector<std::vector<int32_t>> next(size_t(batch), std::vector<int32_t>(1));
            auto step = [&] {
                std::vector<EvalItem> items;
                for (int64_t b = 0; b < batch; ++b) {
                    next[size_t(b)][0] = int32_t(rng() % uint32_t(spec.vocab_size));
                    items.push_back({seqs[size_t(b)].get(), next[size_t(b)], Logits::last});
                }
                engine.eval(items);
            };
            step();  // warm-up
            std::vector<double> secs;
            for (int s = 0; s < a.decode_steps; ++s) {
                const auto t0 = Clock::now();
                step();
                secs.push_back(seconds_since(t0));
            }
            const double s = median(secs), tps = double(batch) / s;
            const double bytes =
                weight_bytes + double(batch) * double(context + a.decode_steps / 2) *
                                   double(kv_bytes_per_position);
            const double fraction = bytes / s / (c.copy_gbps * 1e9);
            fmt::print("{:<28} {:>12.1f} {:>21.1f}%\n", fmt::format("{} x {}", batch, context), tps,
                       100 * fraction);
            out["decode"].push_back({{"batch", batch},
                                     {"context", context},
                                     {"tokens_per_s", tps},
                                     {"bytes_per_step", bytes},
                                     {"of_copy_bandwidth", fraction}});
        }
    }
    std::cout << out.dump() << std::endl;
}

}  // namespace encore::cli
