// `encore sweep -m MODEL -o RUN_DIR [plans] [probes]`: measures a set of layer plans against the
// unmodified model (see src/sweep/sweep.h), resumably, with progress on a terminal; then draws the
// heatmaps and report.html. Also registers `sweep report DIR` and `sweep merge -o DIR PARTS...`.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "model/model.h"
#include "sweep/plan_set.h"
#include "sweep/sweep.h"
#include "sweep/sweep_mpi.h"

namespace encore::cli {

namespace {

struct SweepArgs {
    std::string model, run_dir, device = "cpu";
    int threads = 0;
    std::string kv_type = "auto";  // --kv-type
    std::vector<std::string> plan_sets, plan_specs;
    int min_block = 1, max_block = -1;
    std::string i_range, j_range, shard;
    ProbeConfig probes;
    bool stem_reuse = false, no_stem_reuse = false, no_report = false, deterministic = false;
    int64_t stem_budget_mib = 1024;
    CLI::Option* stem_budget = nullptr;
    SamplerOptions sampling;
    CLI::Option* temp = nullptr;
};

std::vector<SweepPlan> build_plans(const SweepArgs& a, int n_layers) {
    PlanSetBuilder builder(n_layers);
    for (const std::string& set : a.plan_sets) {
        if (set == "rys") {
            RysRange r;
            r.min_block = a.min_block;
            r.max_block = a.max_block;
            if (!a.i_range.empty()) parse_index_range(a.i_range, "--i-range", r.i_min, r.i_max);
            if (!a.j_range.empty()) parse_index_range(a.j_range, "--j-range", r.j_min, r.j_max);
            builder.add_rys(r);
        } else {
            builder.add_file(set);
        }
    }
    for (const std::string& spec : a.plan_specs) builder.add_spec(spec, "--plan '" + spec + "'");
    return builder.build();
}

// "12/79 plans, 1.35 plans/s, ETA 50s" on one terminal line, redrawn after each plan.
class SweepProgress {
  public:
    SweepProgress() : enabled_(isatty(2)), t0_(Clock::now()) {}
    void update(int64_t done, int64_t total) {
        if (first_done_ < 0) first_done_ = done, t0_ = Clock::now();
        if (!enabled_) return;
        const double s = seconds_since(t0_);
        const double rate = s > 0 ? double(done - first_done_) / s : 0;
        std::string eta = rate > 0 ? fmt::format("{:.0f}s", double(total - done) / rate) : "?";
        std::fprintf(stderr, "\rsweep: %lld/%lld plans, %.2f plans/s, ETA %s   ", (long long)done,
                     (long long)total, rate, eta.c_str());
        std::fflush(stderr);
    }
    void finish() {
        if (enabled_) std::fputc('\n', stderr);
    }

  private:
    bool enabled_;
    Clock::time_point t0_;
    int64_t first_done_ = -1;
};

void add_sweep_merge(CLI::App& sweep_cmd) {
    auto out = std::make_shared<std::string>();
    auto parts = std::make_shared<std::vector<std::string>>();
    auto* cmd = sweep_cmd.add_subcommand(
        "merge", "combine run directories of one sweep (e.g. --shard K/N parts) into one");
    cmd->add_option("-o,--output", *out, "the merged run directory (new)")->required();
    cmd->add_option("parts", *parts, "run directories to combine")->required();
    cmd->callback([out, parts] {
        merge_sweep_runs(*out, *parts);
        std::cerr << "merged " << parts->size() << " run directories into " << *out << "\n";
    });
}

}  // namespace

void add_sweep(CLI::App& app) {
    auto a = std::make_shared<SweepArgs>();
    CLI::App* cmd = app.add_subcommand(
        "sweep", "measure layer plans (RYS and others) against the unmodified model");
    cmd->add_option("-m,--model", a->model, "HF model directory or .gguf file");
    cmd->add_option("-o,--output", a->run_dir, "run directory (created, or resumed)");
    cmd->add_option("--plans", a->plan_sets,
                    "'rys' (every RYS plan within the limits below) or a file: one layer spec per "
                    "line, or a mergekit passthrough YAML (repeatable)");
    cmd->add_option("--plan", a->plan_specs, "one layer spec, e.g. rys:2,5;7,9 (repeatable)");
    cmd->add_option("--min-block", a->min_block, "rys: shortest repeated block (default 1)");
    cmd->add_option("--max-block", a->max_block, "rys: longest repeated block (default all)");
    cmd->add_option("--i-range", a->i_range, "rys: block starts A-B (inclusive)");
    cmd->add_option("--j-range", a->j_range, "rys: block ends A-B (inclusive, exclusive end)");
    cmd->add_option("--ppl", a->probes.ppl_file, "perplexity probe: a UTF-8 text file");
    cmd->add_option("--ppl-ctx", a->probes.ppl_ctx, "perplexity window, BOS included (256)");
    cmd->add_option("--ppl-windows", a->probes.ppl_windows, "the first W windows (default all)");
    cmd->add_option("--prompts", a->probes.prompts_file, "generation probe: one prompt a line");
    cmd->add_option("--gen-tokens", a->probes.gen_tokens, "tokens generated per prompt (32)");
    cmd->add_option("--min-tokens", a->probes.min_tokens,
                    "an EOS before this many tokens is an early stop (8)");
    cmd->add_option("--rubric", a->probes.rubric_file,
                    "rubric probe: a rubric file (with --items)");
    cmd->add_option("--items", a->probes.items_file, "rubric probe: items (JSON lines or .csv)");
    cmd->add_option("--choices", a->probes.choices_file,
                    "multiple-choice probe: records {context, choices, gold} (JSON lines)");
    a->temp = cmd->add_option("--temp", a->sampling.temperature,
                              "sample at this temperature instead of greedy");
    cmd->add_option("--top-k", a->sampling.top_k, "top-k filter when sampling (40)");
    cmd->add_option("--top-p", a->sampling.top_p, "nucleus filter when sampling (0.95)");
    cmd->add_option("--min-p", a->sampling.min_p, "min-p filter when sampling (0.05)");
    cmd->add_option("--seed", a->sampling.seed, "sampling seed; prompt k uses seed + k (0)");
    cmd->add_option("--shard", a->shard, "measure only share K of N of the plans (K/N)");
    cmd->add_flag("--stem-reuse", a->stem_reuse,
                  "start each plan after the layers it shares with the unmodified model, from "
                  "the base's states (the default; on cuda they stay in the GPU's memory)");
    cmd->add_flag("--no-stem-reuse", a->no_stem_reuse,
                  "compute every plan from layer 0 (for comparison; the same results, bit for bit "
                  "on the CPU and with --deterministic)");
    a->stem_budget =
        cmd->add_option("--stem-budget", a->stem_budget_mib,
                        "MiB the base's stem states may take (default 1024; on cuda a quarter of "
                        "the GPU memory left after the weights); inputs past it start at layer 0");
    cmd->add_flag("--no-report", a->no_report, "do not draw heatmaps and report.html");
    cmd->add_option("--device", a->device,
                    "cpu (SIMD, default), scalar (reference) or cuda (GPU 0)");
    cmd->add_flag("--deterministic", a->deterministic,
                  "cuda: results independent of batch composition bit for bit (fixed GEMM "
                  "algorithms, slower)");
    cmd->add_option("--threads", a->threads, "worker threads (default: all cores)");
    add_kv_type_option(cmd, a->kv_type);
    add_sweep_report(*cmd);
    add_sweep_merge(*cmd);
    cmd->callback([a, cmd] {
        if (!cmd->get_subcommands().empty()) return;  // report / merge ran
        if (a->model.empty()) fail(ErrorKind::invalid_argument, "sweep: -m MODEL is required");
        if (a->run_dir.empty()) fail(ErrorKind::invalid_argument, "sweep: -o RUN_DIR is required");
        auto model = Model::load(a->model);
        SweepOptions o;
        o.run_dir = a->run_dir;
        o.model_path = a->model;
        o.plans = build_plans(*a, int(model->spec().n_layers));
        if (!a->shard.empty()) parse_shard(a->shard, o.shard_k, o.shard_n);
        o.probes = a->probes;
        o.probes.sampling = a->sampling;
        o.probes.greedy = !(a->temp->count() > 0 && a->sampling.temperature > 0);
        if (a->stem_reuse && a->no_stem_reuse)
            fail(ErrorKind::invalid_argument,
                 "--stem-reuse and --no-stem-reuse exclude each other");
        o.stem_reuse = !a->no_stem_reuse;
        const bool budget_given = a->stem_budget->count() > 0;
        if (budget_given && a->stem_budget_mib < 0)
            fail(ErrorKind::invalid_argument, "--stem-budget must be >= 0 MiB, got {}",
                 a->stem_budget_mib);
        o.stem_store_bytes = budget_given ? a->stem_budget_mib << 20 : -1;
        o.engine.backend = a->device;
        o.engine.n_threads = a->threads;
        o.engine.deterministic = a->deterministic;
        o.engine.kv_type = parse_kv_type_option(a->kv_type);
        o.draw = !a->no_report;
        const auto t0 = Clock::now();
        std::optional<SweepTiming> timing;  // of this process's measurements (not under mpirun)
        if (mpi_sweep_size() > 1) {
            run_sweep_mpi(model, o);
            if (mpi_sweep_rank() != 0) return;
        } else {
            SweepProgress progress;
            timing = run_sweep(model, o,
                               [&](int64_t done, int64_t total) { progress.update(done, total); });
            progress.finish();
        }
        nlohmann::json summary = {{"run_dir", o.run_dir},
                                  {"plans", o.plans.size()},
                                  {"stem_reuse", o.stem_reuse},
                                  {"seconds", seconds_since(t0)}};
        if (timing)
            summary["measuring_seconds"] = {
                {"base", timing->base}, {"engines", timing->engines}, {"probes", timing->probes}};
        std::cout << summary.dump() << std::endl;
    });
}

}  // namespace encore::cli
