// Shared CLI helpers (see common.h).
#include "common.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace encore::cli {

void add_sampling_options(CLI::App* cmd, SamplerOptions& options) {
    cmd->add_option("--temp", options.temperature, "temperature; 0 = greedy (default 0.8)");
    cmd->add_option("--top-k", options.top_k, "top-k filter, 0 = off (default 40)");
    cmd->add_option("--top-p", options.top_p, "nucleus filter, 1 = off (default 0.95)");
    cmd->add_option("--min-p", options.min_p, "min-p filter, 0 = off (default 0.05)");
    cmd->add_option("--seed", options.seed, "random seed (default 0)");
}

void add_model_options(CLI::App* cmd, ModelArgs& args, bool with_runtime) {
    cmd->add_option("-m,--model", args.model, "HF model directory or .gguf file")->required();
    add_layers_option(cmd, args.layers);
    if (!with_runtime) return;
    cmd->add_option("--device", args.device,
                    "cpu (SIMD, default), scalar (reference) or cuda (GPU 0; cuda:N for GPU N)");
    cmd->add_option("--precision", args.precision,
                    "bf16 matmuls: default (activations to 16 bits) or fast (one bf16, as "
                    "llama.cpp)")
        ->each([](const std::string& text) { parse_precision(text); });
    cmd->add_flag("--deterministic", args.deterministic,
                  "results independent of batch composition bit for bit (cuda: fixed GEMM "
                  "algorithms, slower)");
    cmd->add_option("--threads", args.threads, "worker threads (default: all cores)");
    cmd->add_option("--kv-budget", args.kv_budget, "KV cache memory budget, e.g. 2GiB");
    add_kv_type_option(cmd, args.kv_type);
    cmd->add_option("--max-batch-tokens", args.max_batch_tokens,
                    "tokens per forward pass (default: 512 on the CPU; 16384 on a GPU, 4096 "
                    "below 70 GiB)")
        ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
    cmd->add_flag("-v,--verbose", args.verbose, "print KV-cache statistics to stderr");
}

void add_kv_type_option(CLI::App* cmd, std::string& kv_type) {
    cmd->add_option("--kv-type", kv_type,
                    "KV cache storage: auto (default: f32 on the CPU, the weights' bf16/f16 on a "
                    "GPU), f32, f16 or bf16 (half the memory, K/V rounded)")
        ->each([](const std::string& text) { parse_kv_type_option(text); });
}

size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);  // distances from a's prefix to each prefix of b
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::optional<DType> parse_kv_type_option(const std::string& text) {
    if (text == "auto") return std::nullopt;
    if (text == "f32" || text == "f16" || text == "bf16") return parse_kv_type(text);
    fail(ErrorKind::invalid_argument, "--kv-type '{}': expected auto, f32, f16 or bf16", text);
}

CLI::Option* add_layers_option(CLI::App* cmd, std::string& layers) {
    // CLI11 hands an empty string both for an absent option and for `--layers ""`; only the
    // second reaches this function.
    auto store = [&layers](const std::string& spec) {
        if (spec.find_first_not_of(" \t") == std::string::npos)
            fail(ErrorKind::invalid_argument,
                 "--layers: empty layer spec (leave --layers out to run the model as it is)");
        layers = spec;
    };
    return cmd->add_option_function<std::string>(
        "--layers", store, "layer plan: '0-3,2-5', '0,1,1,2-5', 'rys:I,J' or a mergekit YAML file");
}

void report_kv_stats(const Engine& engine, const ModelArgs& args) {
    if (!args.verbose) return;
    const KvPool& kv = engine.kv();
    const PrefixStats& s = kv.stats();
    std::fprintf(stderr,
                 "kv: %d blocks of %d positions (%s, %lld bytes each), %d referenced, %d cached; "
                 "prefix hits %lld, misses %lld, evictions %lld, published %lld\n",
                 kv.n_blocks(), kv.block_size(), std::string(dtype_name(kv.type())).c_str(),
                 (long long)kv.bytes_per_block(), kv.n_referenced(), kv.n_cached(),
                 (long long)s.hits, (long long)s.misses, (long long)s.evictions,
                 (long long)s.published);
}

Loaded load_model(const ModelArgs& args) {
    Loaded l;
    l.model = Model::load(args.model);
    l.plan = LayerPlan::parse(args.layers, int(l.model->spec().n_layers));
    return l;
}

EngineOptions engine_options(const ModelArgs& args) {
    EngineOptions options;
    options.backend = args.device;
    options.precision = parse_precision(args.precision);
    options.deterministic = args.deterministic;
    if (args.device.rfind("cuda:", 0) == 0) {  // cuda:N
        options.backend = "cuda";
        const std::string index = args.device.substr(5);
        auto [ptr, ec] = std::from_chars(index.data(), index.data() + index.size(), options.device);
        if (ec != std::errc() || ptr != index.data() + index.size() || options.device < 0)
            fail(ErrorKind::invalid_argument, "--device '{}': expected cuda:N, N a GPU index",
                 args.device);
    }
    options.n_threads = args.threads;
    if (!args.kv_budget.empty())
        options.kv_budget_bytes = parse_bytes(args.kv_budget, "--kv-budget");
    options.kv_type = parse_kv_type_option(args.kv_type);
    options.max_batch_tokens = args.max_batch_tokens;
    return options;
}

std::unique_ptr<Engine> make_engine(const Loaded& loaded, const ModelArgs& args,
                                    std::shared_ptr<ThreadPool> pool) {
    EngineOptions options = engine_options(args);
    options.thread_pool = std::move(pool);
    return std::make_unique<Engine>(loaded.model, loaded.plan, options);
}

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

int64_t parse_bytes(const std::string& text, const std::string& what) {
    double value = 0;
    const char* begin = text.data();
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(begin, end, value);
    if (ec != std::errc() || !(value >= 0) || !std::isfinite(value))
        fail(ErrorKind::invalid_argument, "{} '{}': expected a size such as 2GiB or 512MiB", what,
             text);
    const std::string unit(ptr, end);
    double scale = 1;
    if (unit.empty() || unit == "B")
        scale = 1;
    else if (unit == "K" || unit == "KiB" || unit == "k")
        scale = 1024.0;
    else if (unit == "M" || unit == "MiB")
        scale = 1024.0 * 1024;
    else if (unit == "G" || unit == "GiB")
        scale = 1024.0 * 1024 * 1024;
    else if (unit == "KB")
        scale = 1e3;
    else if (unit == "MB")
        scale = 1e6;
    else if (unit == "GB")
        scale = 1e9;
    else
        fail(ErrorKind::invalid_argument, "{} '{}': unknown unit '{}' (use B, KiB, MiB, GiB)", what,
             text, unit);
    return int64_t(value * scale);
}

std::vector<int32_t> parse_token_list(const std::string& text) {
    std::vector<int32_t> ids;
    size_t start = 0;
    while (start <= text.size()) {
        size_t comma = text.find(',', start);
        if (comma == std::string::npos) comma = text.size();
        std::string item = text.substr(start, comma - start);
        while (!item.empty() && item.front() == ' ') item.erase(item.begin());
        while (!item.empty() && item.back() == ' ') item.pop_back();
        int64_t v = 0;
        auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
        if (item.empty() || ec != std::errc() || ptr != item.data() + item.size() || v < 0 ||
            v > INT32_MAX)
            fail(ErrorKind::invalid_argument, "--tokens: '{}' is not a token id", item);
        ids.push_back(int32_t(v));
        start = comma + 1;
    }
    return ids;
}

ProgressBar::ProgressBar(std::string label) : label_(std::move(label)), enabled_(isatty(2)) {}

void ProgressBar::update(int64_t done, int64_t total) {
    update(done, total, "");
}

void ProgressBar::update(int64_t done, int64_t total, const std::string& note) {
    if (!enabled_ || total <= 0) return;
    const int width = 40;
    const int filled = int(width * done / total);
    std::fprintf(stderr, "\r%s [%s%s] %lld/%lld%s%s\033[K", label_.c_str(),
                 std::string(size_t(filled), '#').c_str(),
                 std::string(size_t(width - filled), '.').c_str(), (long long)done,
                 (long long)total, note.empty() ? "" : " ", note.c_str());
    std::fflush(stderr);
    drawn_ = true;
}

void ProgressBar::finish() {
    if (drawn_) std::fputc('\n', stderr);
    drawn_ = false;
}

}  // namespace encore::cli
