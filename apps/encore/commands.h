// Registration of every encore subcommand; each lives in its own cmd_*.cpp file.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace encore::cli {

void add_info(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_detokenize(CLI::App& app);
void add_logits(CLI::App& app);
void add_generate(CLI::App& app);
void add_perplexity(CLI::App& app);
void add_convert(CLI::App& app);
void add_bench(CLI::App& app);
void add_bench_prefix(CLI::App& bench_cmd);    // `bench prefix`, called by add_bench
void add_bench_template(CLI::App& bench_cmd);  // `bench template`, called by add_bench
void add_cache(CLI::App& app);
void add_chat(CLI::App& app);
void add_template(CLI::App& app);
void add_sweep_report(CLI::App& sweep_cmd);  // `sweep report DIR`, called by add_sweep
void add_sweep(CLI::App& app);
void add_layers(CLI::App& app);
void add_export(CLI::App& app);
void add_score(CLI::App& app);
void add_choose(CLI::App& app);
void add_bench_score(CLI::App& bench_cmd);  // `bench score`, called by add_bench
void add_serve(CLI::App& app);

// `encore bench --device cuda` (cmd_bench_device.cpp), called by add_bench.
struct DeviceBenchArgs {
    std::string model, layers;
    int device = 0;
    bool deterministic = false;
    std::optional<DType> kv_type;  // KV storage type (--kv-type; unset: default_kv_type)
    int64_t max_batch_tokens = 0;  // 0: the backend's default
    std::vector<int64_t> prefill = {512, 2048, 8192};
    std::vector<int64_t> contexts = {512, 4096};
    std::vector<int64_t> batches = {1, 8, 64};
    int repeats = 3;
    int decode_steps = 16;
    // Scoring: one prefix, items forked from it in batches, logits of each item's last token.
    int64_t score_prefix = 2000, score_item_tokens = 300, score_items = 512, score_batch = 32;
};
void run_device_bench(const DeviceBenchArgs& args);

}  // namespace encore::cli
