// Registration of every encore subcommand; each lives in its own cmd_*.cpp file.
#pragma once

#include <CLI/CLI.hpp>

namespace encore::cli {

void add_info(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_detokenize(CLI::App& app);
void add_logits(CLI::App& app);
void add_generate(CLI::App& app);
void add_perplexity(CLI::App& app);
void add_convert(CLI::App& app);
void add_bench(CLI::App& app);
void add_bench_prefix(CLI::App& bench_cmd);  // `bench prefix`, called by add_bench
void add_cache(CLI::App& app);
void add_chat(CLI::App& app);
void add_sweep_report(CLI::App& sweep_cmd);  // `sweep report DIR`, called by add_sweep
void add_score(CLI::App& app);
void add_choose(CLI::App& app);
void add_bench_score(CLI::App& bench_cmd);  // `bench score`, called by add_bench

}  // namespace encore::cli
