// `encore bench`: speed measurements, each reported with a ratio to something measured in the
// same run (see bench/RESULTS.md):
//   encore bench            decode and prompt processing on a model (default: a random-weight
//                           bf16 model of the Llama-3.2-1B shape) against the machine's memory
//                           read bandwidth and f32 FMA peak; on bf16 weights, prompt processing
//                           also at --precision fast, in the same rounds as the default
//   encore bench tokenize   tokenizer throughput on a text file
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "backend/cpu/roofline.h"
#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "engine/sequence.h"
#include "model/random_model.h"
#include "tokenizer/tokenizer.h"

namespace encore::cli {

namespace {

// Rates of timed calls, each with the roofline pass taken just before it.
struct PairedRuns {
    std::vector<double> rates, rooflines;

    void add(double rate, double roofline) {
        rates.push_back(rate);
        rooflines.push_back(roofline);
    }
    double median_rate() const { return median(rates); }
    double median_roofline() const { return median(rooflines); }
    double median_ratio() const {  // median over pairs of rate / its roofline
        std::vector<double> r;
        for (size_t i = 0; i < rates.size(); ++i) r.push_back(rates[i] / rooflines[i]);
        return median(r);
    }
    double best_ratio() const {  // fastest call over the best roofline pass
        return *std::max_element(rates.begin(), rates.end()) /
               *std::max_element(rooflines.begin(), rooflines.end());
    }
};

// Multiply-accumulates of the matrices one token passes through (the output head excluded:
// prompt processing computes logits for the last token only).
double matmul_flops_per_token(const ModelSpec& s, const LayerPlan& plan) {
    const double d = double(s.n_embd);
    const double per_layer =
        d * double(s.q_dim()) * 2 + d * double(s.kv_dim()) * 2 + 3 * d * double(s.n_ff);
    return 2.0 * per_layer * plan.n_instances();
}

struct BenchArgs {
    std::string model, layers;
    std::string device = "cpu";
    DeviceBenchArgs gpu;
    std::string kv_type = "auto";
    int threads = 0;
    int64_t prompt = 128;
    int64_t decode = 32;
    int repeats = 5;
};

void run_model_bench(const BenchArgs& a) {
    std::shared_ptr<Model> model;
    std::string model_name;
    if (a.model.empty()) {
        fmt::print(stderr, "making a random-weight bf16 model of the Llama-3.2-1B shape...\n");
        model = make_random_model(llama32_1b_spec(), DType::bf16, 1);
        model_name = "random llama-3.2-1b shape, bf16";
    } else {
        model = Model::load(a.model);
        model_name = a.model;
    }
    const LayerPlan plan = LayerPlan::parse(a.layers, int(model->spec().n_layers));
    EngineOptions options;
    options.thread_pool = std::make_shared<ThreadPool>(a.threads);
    options.kv_type = parse_kv_type_option(a.kv_type);
    options.prefix_cache = false;  // every repeat must compute the whole prompt
    Engine engine(model, plan, options);
    // On bf16 weights, a second engine at Precision::fast (same threads, a KV pool just large
    // enough for the prompt): its prompt processing is timed in the same rounds as the default's.
    const bool bf16 = model->weights().layers[0].w_gate.dtype == DType::bf16;
    std::unique_ptr<Engine> fast_engine;
    if (bf16) {
        EngineOptions fast = options;
        fast.precision = Precision::fast;
        fast.kv_type = engine.kv_type();
        fast.kv_budget_bytes = int64_t(plan.n_instances()) * 2 * model->spec().kv_dim() *
                               kv_type_bytes(*fast.kv_type) * (a.prompt + 4 * fast.block_size);
        fast_engine = std::make_unique<Engine>(model, plan, fast);
    }

    // Each timed call is paired with a roofline pass taken right before it (see roofline.h): the
    // machine may be shared, and a ratio means something only when both sides saw the same
    // conditions. Reported: the median over pairs of (call / its roofline pass), and the
    // fastest call over the best roofline pass.
    // Two read rooflines: a buffer of the probe's own, and the very weights a decoded token
    // reads (on a VM, one allocation's pages can be read faster than another's).
    fmt::print(stderr, "allocating the memory-read probe...\n");
    ReadBandwidthProbe read_probe(engine.threads());
    ReadBandwidthProbe weights_probe(engine.threads(), model->weights_read_per_token(&plan.layers));
    FmaPeakProbe fma_probe(engine.threads());
    read_probe.pass(), weights_probe.pass(), fma_probe.pass();  // warm-up

    std::mt19937 rng(7);
    std::vector<int32_t> prompt(size_t(a.prompt));
    for (auto& t : prompt) t = int32_t(rng() % uint32_t(model->spec().vocab_size));
    const double flops_per_prompt = matmul_flops_per_token(model->spec(), plan) * double(a.prompt);

    // Prompt processing: the whole prompt in one call, logits for the last token. On bf16 weights
    // each round times the default and the fast precision (which goes first alternates), each
    // after its own FMA pass; their ratio is taken per round, relative to the passes.
    fmt::print(stderr, "prompt processing ({} tokens) x {}{}...\n", a.prompt, a.repeats,
               bf16 ? ", default and fast precision" : "");
    Sequence seq(engine);
    seq.prefill(prompt, Logits::last);  // warm-up
    std::unique_ptr<Sequence> fast_seq;
    if (fast_engine) {
        fast_seq = std::make_unique<Sequence>(*fast_engine);
        fast_seq->prefill(prompt, Logits::last);  // warm-up
    }
    PairedRuns pp, pp_fast;        // GFLOP/s with the FMA peak
    std::vector<double> speedups;  // per round: fast / default, each relative to its FMA pass
    auto timed_prompt = [&](Sequence& s, PairedRuns& runs) {
        s.truncate(0);
        const double peak = std::max({fma_probe.pass(), fma_probe.pass(), fma_probe.pass()});
        const auto t0 = Clock::now();
        s.prefill(prompt, Logits::last);
        runs.add(flops_per_prompt / seconds_since(t0) / 1e9, peak);
        return runs.rates.back() / peak;
    };
    for (int r = 0; r < a.repeats; ++r) {
        if (!fast_seq) {
            timed_prompt(seq, pp);
        } else if (r % 2 == 0) {  // alternating which goes first
            const double standard = timed_prompt(seq, pp);
            speedups.push_back(timed_prompt(*fast_seq, pp_fast) / standard);
        } else {
            const double fast = timed_prompt(*fast_seq, pp_fast);
            speedups.push_back(fast / timed_prompt(seq, pp));
        }
    }

    // Decode: one token per call after the prompt.
    fmt::print(stderr, "decode ({} tokens)...\n", a.decode);
    const double bytes_per_token = double(model->weight_bytes_per_token(&plan.layers));
    PairedRuns tg, tg_w;  // weight GB/s with the read bandwidth of the buffer, of the weights
    for (int64_t i = 0; i < a.decode; ++i) {
        const int32_t next = int32_t(rng() % uint32_t(model->spec().vocab_size));
        const double read_weights = weights_probe.pass();
        const double read = read_probe.pass();  // last: it leaves no weights in the caches
        const auto t0 = Clock::now();
        seq.prefill(std::span(&next, 1), Logits::last);
        const double gbps = bytes_per_token / seconds_since(t0) / 1e9;
        tg.add(gbps, read);
        tg_w.add(gbps, read_weights);
    }
    const double pp_gflops = pp.median_rate(), fma_gflops = pp.median_roofline();
    const double tg_gbps = tg.median_rate(), read_gbps = tg.median_roofline();
    const double read_weights_gbps = tg_w.median_roofline();
    const double pp_fraction = pp.median_ratio(), tg_fraction = tg.median_ratio();
    const double tg_w_fraction = tg_w.median_ratio();
    const double pp_best = pp.best_ratio(), tg_best = tg.best_ratio();

    fmt::print("model:                {} (KV cache {})\n", model_name,
               dtype_name(engine.kv_type()));
    fmt::print("threads:              {}\n", engine.threads().n_threads());
    fmt::print(
        "memory read (STREAM): {:.1f} GB/s over a 1 GiB buffer, {:.1f} GB/s over the weights "
        "(medians of the passes)\n",
        read_gbps, read_weights_gbps);
    fmt::print("f32 FMA peak:         {:.1f} GFLOP/s (median of the passes)\n", fma_gflops);
    fmt::print(
        "prompt processing:    {:.1f} tokens/s, {:.1f} GFLOP/s = {:.1f}% of FMA peak "
        "(median of pairs; best {:.1f}%)\n",
        pp_gflops * 1e9 / (flops_per_prompt / double(a.prompt)), pp_gflops, 100 * pp_fraction,
        100 * pp_best);
    const double tokens_per_gflop = 1e9 / (flops_per_prompt / double(a.prompt));
    if (fast_seq)
        fmt::print(
            "prompt, --precision fast: {:.1f} tokens/s = {:.1f}% of FMA peak (median of pairs); "
            "{:.2f}x the default (median over rounds)\n",
            pp_fast.median_rate() * tokens_per_gflop, 100 * pp_fast.median_ratio(),
            median(speedups));
    else
        fmt::print("prompt, --precision fast: the same kernels as the default on {} weights\n",
                   dtype_name(model->weights().layers[0].w_gate.dtype));
    fmt::print(
        "decode:               {:.2f} tokens/s, {:.1f} GB/s of weights = {:.1f}% of read "
        "bandwidth (median of pairs; best {:.1f}%), {:.1f}% of reading the weights\n",
        tg_gbps * 1e9 / bytes_per_token, tg_gbps, 100 * tg_fraction, 100 * tg_best,
        100 * tg_w_fraction);
    nlohmann::json j = {
        {"model", model_name},
        {"threads", engine.threads().n_threads()},
        {"read_gbps", read_gbps},
        {"read_weights_gbps", read_weights_gbps},
        {"fma_gflops", fma_gflops},
        {"pp_tokens", a.prompt},
        {"pp_tokens_per_s", pp_gflops * 1e9 / (flops_per_prompt / double(a.prompt))},
        {"pp_gflops", pp_gflops},
        {"pp_fraction_of_peak", pp_fraction},
        {"pp_best_fraction_of_peak", pp_best},
        {"tg_tokens_per_s", tg_gbps * 1e9 / bytes_per_token},
        {"tg_weight_gbps", tg_gbps},
        {"tg_fraction_of_bandwidth", tg_fraction},
        {"tg_fraction_of_weight_read", tg_w_fraction},
        {"tg_best_fraction_of_bandwidth", tg_best}};
    if (fast_seq) {
        j["pp_fast_tokens_per_s"] = pp_fast.median_rate() * tokens_per_gflop;
        j["pp_fast_fraction_of_peak"] = pp_fast.median_ratio();
        j["pp_fast_over_default"] = median(speedups);
        j["pp_fast_over_default_rounds"] = speedups;
    }
    std::cout << j.dump() << std::endl;
}

}  // namespace

void add_bench(CLI::App& app) {
    auto a = std::make_shared<BenchArgs>();
    CLI::App* cmd = app.add_subcommand(
        "bench",
        "speed: decode and prompt processing vs measured rooflines (default: random "
        "Llama-3.2-1B-shaped bf16 model)");
    cmd->add_option("-m,--model", a->model, "model to time (default: random 1B-shaped bf16)");
    add_layers_option(cmd, a->layers);
    cmd->add_option("--threads", a->threads, "threads (default: all cores)");
    cmd->add_option("--prompt", a->prompt, "prompt tokens (default 128)");
    cmd->add_option("--decode", a->decode, "decoded tokens (default 32)")
        ->check(CLI::Range(1, 1000000));
    cmd->add_option("--repeats", a->repeats, "prompt repeats (default 5)")
        ->check(CLI::Range(1, 1000000));
    cmd->add_option("--device", a->device,
                    "cpu (default) or cuda[:N]: the GPU benchmark (Llama-3-8B shape, prefill "
                    "512/2048/8192, decode batch 1/8/64 at contexts 512/4096)");
    cmd->add_flag("--deterministic", a->gpu.deterministic,
                  "cuda: batch-invariant GEMM algorithms (see --device cuda in the README)");
    cmd->add_option(
           "--max-batch-tokens", a->gpu.max_batch_tokens,
           "cuda: tokens per forward pass (default: the GPU's, 16384 or 4096 below 70 GiB)")
        ->check(CLI::Range(1, 1 << 20));
    cmd->add_option("--score-items", a->gpu.score_items,
                    "cuda: items of the scoring workload (2000-token prefix, 300-token items; "
                    "default 512; 0 skips it)")
        ->check(CLI::Range(0, 1 << 20));
    cmd->add_option("--prefill-tokens", a->gpu.prefill,
                    "cuda: prompt lengths timed in prefill (default 512,2048,8192)")
        ->delimiter(',')
        ->check(CLI::Range(1, 1 << 20));
    cmd->add_option("--decode-contexts", a->gpu.contexts,
                    "cuda: context lengths before decode (default 512,4096)")
        ->delimiter(',')
        ->check(CLI::Range(1, 1 << 20));
    cmd->add_option("--decode-batches", a->gpu.batches,
                    "cuda: sequences per decode step (default 1,8,64)")
        ->delimiter(',')
        ->check(CLI::Range(1, 4096));
    cmd->add_option("--decode-steps", a->gpu.decode_steps,
                    "cuda: timed decode steps per row (default 16)")
        ->check(CLI::Range(1, 1 << 20));
    cmd->add_option("--gpu-repeats", a->gpu.repeats,
                    "cuda: timed prefills per length, after a warm-up (default 3)")
        ->check(CLI::Range(1, 1000));
    cmd->add_option("--score-batch", a->gpu.score_batch,
                    "cuda: items per forward pass of the scoring workload (default 32)")
        ->check(CLI::Range(1, 4096));
    add_kv_type_option(cmd, a->kv_type);

    auto text_file = std::make_shared<std::string>();
    auto tok_file = std::make_shared<std::string>();
    CLI::App* tok = cmd->add_subcommand("tokenize", "tokenizer throughput on a text file");
    tok->add_option("--tokenizer", *tok_file, "tokenizer.json")->required();
    tok->add_option("-f,--file", *text_file, "text file")->required();
    tok->callback([text_file, tok_file] {
        const Tokenizer t = Tokenizer::from_file(*tok_file);
        const std::string text = read_file(*text_file);
        t.encode(text.substr(0, std::min<size_t>(text.size(), 4096)), false);  // warm-up
        std::vector<double> times;
        size_t n_tokens = 0;
        for (int r = 0; r < 5; ++r) {
            const auto t0 = Clock::now();
            n_tokens = t.encode(text, false).size();
            times.push_back(seconds_since(t0));
        }
        const double s = median(times);
        std::cout << nlohmann::json{{"bytes", text.size()},
                                    {"tokens", n_tokens},
                                    {"seconds", s},
                                    {"mb_per_s", double(text.size()) / s / 1e6}}
                         .dump()
                  << std::endl;
    });
    add_bench_prefix(*cmd);
    add_bench_template(*cmd);
    add_bench_score(*cmd);
    cmd->callback([cmd, a] {
        if (!cmd->get_subcommands().empty()) return;
        if (a->device.rfind("cuda", 0) == 0) {
            a->gpu.model = a->model;
            a->gpu.layers = a->layers;
            a->gpu.kv_type = parse_kv_type_option(a->kv_type);
            if (a->device.size() > 5) a->gpu.device = std::stoi(a->device.substr(5));
            run_device_bench(a->gpu);
            return;
        }
        if (a->device != "cpu")
            fail(ErrorKind::invalid_argument, "--device '{}': expected cpu or cuda[:N]", a->device);
        run_model_bench(*a);
    });
}

}  // namespace encore::cli
