// Options and helpers shared by the encore subcommands: the model/plan/device options every
// command that runs the model takes, byte-size and token-list parsing, JSON-lines I/O, timing.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/sampler.h"

namespace encore::cli {

struct ModelArgs {
    std::string model;   // HF directory or .gguf file
    std::string layers;  // layer plan spec ("" = the model itself)
    std::string device = "cpu";
    std::string precision = "default";  // of bf16 matmuls: "default" or "fast" (backend.h)
    int threads = 0;
    std::string kv_budget;         // e.g. "2GiB"; "" = automatic
    std::string kv_type = "auto";  // KV storage type: "auto", "f32", "f16" or "bf16" (backend.h)
    bool verbose = false;          // print KV-cache statistics to stderr at the end
    bool deterministic = false;    // batch-invariant bits on the GPU too (see EngineOptions)
    int64_t max_batch_tokens = 0;  // tokens per forward pass; 0 = the backend's default
};

// Adds -m/--model, --layers, --device, --precision, --threads, --kv-budget, --kv-type and
// --max-batch-tokens to a subcommand (only -m and --layers without the runtime ones).
void add_model_options(CLI::App* cmd, ModelArgs& args, bool with_runtime = true);

// Adds --kv-type (auto, f32, f16 or bf16; checked as it is parsed), stored in `kv_type`.
void add_kv_type_option(CLI::App* cmd, std::string& kv_type);
// Levenshtein distance between two words (insertions, deletions, substitutions): how far a
// mistyped command is from a real one.
size_t edit_distance(const std::string& a, const std::string& b);

// --kv-type's value: unset for "auto" (the engine's default_kv_type), else the type.
std::optional<DType> parse_kv_type_option(const std::string& text);

// Adds --layers, stored in `layers` (left as it is when the option is absent). An empty spec
// given on the command line (`--layers ""`) is an invalid_argument error naming the option.
CLI::Option* add_layers_option(CLI::App* cmd, std::string& layers);

// Adds --temp, --top-k, --top-p, --min-p, --seed (the sampler's settings) to a subcommand.
void add_sampling_options(CLI::App* cmd, SamplerOptions& options);

struct Loaded {
    std::shared_ptr<Model> model;
    LayerPlan plan;
};
Loaded load_model(const ModelArgs& args);
// The engine options the arguments ask for (backend, precision, threads, KV budget and type).
EngineOptions engine_options(const ModelArgs& args);
// `pool`: a thread pool shared with other engines of the command (null: the engine makes its own).
std::unique_ptr<Engine> make_engine(const Loaded& loaded, const ModelArgs& args,
                                    std::shared_ptr<ThreadPool> pool = nullptr);

// One line of KV pool and prefix-cache statistics, printed to stderr when args.verbose.
void report_kv_stats(const Engine& engine, const ModelArgs& args);

// "2GiB", "512MiB", "1.5G", "1000000" -> bytes; invalid_argument naming the text otherwise.
int64_t parse_bytes(const std::string& text, const std::string& what);
// "1,2,3" -> ids; invalid_argument naming the bad item.
std::vector<int32_t> parse_token_list(const std::string& text);

// Timing for the bench commands.
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0);
// The middle value (the upper one of an even count); `v` must not be empty.
double median(std::vector<double> v);

// A progress bar on stderr, drawn only when stderr is a terminal.
class ProgressBar {
  public:
    explicit ProgressBar(std::string label);
    void update(int64_t done, int64_t total);
    // The same with a note after the counts (a rate, an ETA).
    void update(int64_t done, int64_t total, const std::string& note);
    void finish();

  private:
    std::string label_;
    bool enabled_;
    bool drawn_ = false;
};

}  // namespace encore::cli
