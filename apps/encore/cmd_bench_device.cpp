// `encore bench --device cuda`: the GPU benchmark. A random-weight bf16 model of the Llama-3-8B
// shape (or --model), prefill tokens/s at 512, 2048 and 8192 tokens and decode tokens/s at batch
// 1, 8 and 64 after contexts of 512 and 4096, each as a fraction of the ceilings measured in the
// same run (a cuBLASLt bf16 8192^3 GEMM, a device-to-device copy; backend/cuda/ceilings.h).
//
// Every job runs in forward passes of up to --max-batch-tokens tokens (default: the backend's, as
// in the other commands).
// Prefill: one sequence, the whole prompt, logits of the last token; the fraction counts the
// GEMM work of the prompt (2 x matrix parameters x tokens, output head excluded), not attention.
// Decode: the batch's sequences are forks of one context (its KV blocks shared, as when scoring
// items against a rubric), one token each per step, logits of every item copied to the host each
// step; the fraction counts the bytes a step must read (every weight once, each item's K/V) over
// the copy bandwidth.
// Scoring: the workload of LLM-as-judge scoring at the engine level (as encore score runs it,
// without the tokenizer a random model lacks): a prefix prefilled once without logits, then
// items forked from it, --score-batch at a time in one forward pass each, the logits of each
// item's last token copied to the host and reduced to ten label probabilities. Its fraction is
// of the compute floor: 2 x matrix parameters x item tokens per item at the GEMM ceiling.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
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
    const DType kv_type = a.kv_type.value_or(default_kv_type("cuda", *model));
    options.kv_type = kv_type;
    options.prefix_cache = false;  // every repeat computes its tokens
    options.max_batch_tokens = a.max_batch_tokens;
    const int64_t kv_bytes_per_position =
        int64_t(plan.n_instances()) * 2 * spec.kv_dim() * kv_type_bytes(kv_type);
    // Room for the longest prefill and for the largest decode batch after the longest context
    // (each item's own blocks: its steps plus a partly filled block), or for the scoring batch.
    auto largest = [](const std::vector<int64_t>& v) {
        return v.empty() ? int64_t(0) : *std::max_element(v.begin(), v.end());
    };
    options.kv_budget_bytes =
        kv_bytes_per_position *
        std::max<int64_t>(largest(a.prefill) + largest(a.batches) * (a.decode_steps + 64) +
                              largest(a.contexts) + 1024,
                          a.score_prefix + a.score_batch * (a.score_item_tokens + 32) + 1024);
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
    fmt::print("model:       {} (KV cache {}, passes of up to {} tokens)\n", model_name,
               dtype_name(kv_type), engine.pass_tokens());
    fmt::print("ceilings:    bf16 GEMM 8192^3 {:.1f} TFLOP/s; device copy {:.1f} GB/s\n",
               c.gemm_tflops, c.copy_gbps);
    nlohmann::json out = {{"device", c.device_name},
                          {"model", model_name},
                          {"deterministic", a.deterministic},
                          {"kv_type", dtype_name(kv_type)},
                          {"pass_tokens", engine.pass_tokens()},
                          {"gemm_tflops", c.gemm_tflops},
                          {"copy_gbps", c.copy_gbps}};

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
        out["prefill"].push_back(
            {{"tokens", n}, {"tokens_per_s", tps}, {"of_gemm_peak", fraction}});
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
            const double bytes = weight_bytes + double(batch) *
                                                    double(context + a.decode_steps / 2) *
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

    if (a.score_items > 0) {
        Sequence prefix(engine);
        prefix.prefill(random_tokens(a.score_prefix), Logits::none);
        std::vector<int32_t> labels(10);
        for (auto& l : labels) l = int32_t(rng() % uint32_t(spec.vocab_size));
        double checksum = 0;
        auto score_batch = [&](int64_t n) {
            std::vector<std::unique_ptr<Sequence>> seqs;
            std::vector<std::vector<int32_t>> tokens;
            std::vector<EvalItem> items;
            for (int64_t b = 0; b < n; ++b) {
                seqs.push_back(prefix.fork());
                tokens.push_back(random_tokens(a.score_item_tokens));
            }
            for (int64_t b = 0; b < n; ++b)
                items.push_back({seqs[size_t(b)].get(), tokens[size_t(b)], Logits::last});
            engine.eval(items);
            for (auto& s : seqs) {  // the label distribution, as the scorer takes it
                const auto logits = s->last_logits();
                float big = -INFINITY;
                for (int32_t l : labels) big = std::max(big, logits[size_t(l)]);
                double den = 0;
                for (int32_t l : labels) den += std::exp(double(logits[size_t(l)] - big));
                checksum += 1.0 / den;
            }
        };
        score_batch(std::min(a.score_batch, a.score_items));  // warm-up
        const auto t0 = Clock::now();
        for (int64_t done = 0; done < a.score_items; done += a.score_batch)
            score_batch(std::min(a.score_batch, a.score_items - done));
        const double s = seconds_since(t0), ips = double(a.score_items) / s;
        const double floor_ips =
            c.gemm_tflops * 1e12 / (flops_per_token * double(a.score_item_tokens));
        fmt::print("{:<28} {:>12} {:>22}\n", "score (prefix, item, batch)", "items/s",
                   "of compute floor");
        fmt::print("{:<28} {:>12.1f} {:>21.1f}%\n",
                   fmt::format("{} + {} x {}", a.score_prefix, a.score_item_tokens, a.score_batch),
                   ips, 100 * ips / floor_ips);
        out["score"] = {{"prefix", a.score_prefix}, {"item_tokens", a.score_item_tokens},
                        {"items", a.score_items},   {"batch", a.score_batch},
                        {"items_per_s", ips},       {"of_compute_floor", ips / floor_ips},
                        {"checksum", checksum}};
    }
    std::cout << out.dump() << std::endl;
}

}  // namespace encore::cli
