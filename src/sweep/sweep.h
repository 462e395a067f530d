// The sweep driver: measures every plan of a plan set with the configured probes and records
// the results in a run directory (format in run_dir.h), resumably. The work is split so that a
// coordinator can hand plans to other processes (MPI ranks): `prepare` (coordinator: opens or
// resumes the run directory, measures the base), `measure` (anyone: one plan's per-item values
// and samples, as JSON), `record` (coordinator: metrics against the base, appended to the run
// directory), `finish` (coordinator: files in plan order, results.csv, heatmaps and report).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "sweep/plan_set.h"
#include "sweep/probes.h"

namespace encore {

struct SweepOptions {
    std::string run_dir;
    std::string model_path;  // as given (recorded; the weights' fingerprint is what is checked)
    std::vector<SweepPlan> plans;  // the full plan set, base first
    int shard_k = 1, shard_n = 1;  // this run measures shard k of n
    ProbeConfig probes;
    bool stem_reuse = true;
    // Bytes the stem states of the rubric and choice probes may take (engine/stem_store.h says
    // what a state costs); evaluations past it are computed from layer 0 by every plan. -1: 1 GiB
    // of host memory, or on a GPU a quarter of its memory left free after the model's weights.
    int64_t stem_store_bytes = -1;
    EngineOptions engine;  // backend, threads (kv_budget is sized per plan, the backend shared)
    bool draw = true;      // heatmaps and report.html at the end
};

// Where the time of a sweep's measurements went, in seconds, over the plans one process
// measured.
struct SweepTiming {
    double base = 0;     // the base's measurement, with the capture of its stem states
    double engines = 0;  // making and closing the other plans' engines (KV pool; scratch freed)
    double probes = 0;   // the other plans' probes (their forward passes, scratch grown)
};

class Sweep {
  public:
    Sweep(std::shared_ptr<const Model> model, SweepOptions options);
    ~Sweep();

    // Creates the run directory or checks that it is this sweep's, drops a torn line and the
    // samples of unfinished plans, measures and records the base if needed. Returns the indices
    // (into options.plans) of the plans still to measure, in order.
    std::vector<size_t> prepare();
    // Measures plan `index` (independent of every other call): {"index", "per_item", "samples"}.
    nlohmann::json measure(size_t index);
    // Appends a measured plan's samples and results line.
    void record(const nlohmann::json& measured);
    // Rewrites results and samples in plan order, writes results.csv, draws the report.
    void finish();

    const nlohmann::json& run_json() const { return run_; }
    const std::vector<SweepPlan>& plans() const { return options_.plans; }
    // The plans this run measures (its shard of the set).
    const std::vector<size_t>& own_plans() const { return own_; }
    const SweepTiming& timing() const { return timing_; }

  private:
    void ensure_base_stems();
    std::unique_ptr<Engine> make_engine(const LayerPlan& plan) const;
    std::string path(const char* name) const;

    std::shared_ptr<const Model> model_;
    SweepOptions options_;
    ProbeInputs inputs_;
    nlohmann::json run_;
    std::vector<size_t> own_;
    std::shared_ptr<ThreadPool> threads_;
    // One backend for every plan's engine (its stream, GEMM handles and staging made once).
    std::shared_ptr<Backend> backend_;
    // Of the base's KV pool: its bytes, and the most blocks its probes referenced at once (0: the
    // base was not measured by this process). Every plan's probes do the same work.
    int64_t base_pool_bytes_ = 0;
    int32_t base_peak_blocks_ = 0;
    std::optional<BaseStems> base_stems_;
    std::optional<PlanMeasurement> base_;  // the base's values, for deltas (coordinator)
    bool coordinator_ = false;  // prepare() was called: this process writes the run directory
    int lock_fd_ = -1;          // flock on RUN_DIR/.lock while prepared
    SweepTiming timing_;
};

// Runs a whole sweep in this process; progress(done, total) after each recorded plan (done
// counts plans finished earlier too). Returns where the time of its measurements went.
SweepTiming run_sweep(std::shared_ptr<const Model> model, const SweepOptions& options,
                      const std::function<void(int64_t done, int64_t total)>& progress = {});

// Combines run directories of one sweep (e.g. its --shard K/N parts) into `out_dir`, as if the
// whole had run in one process; the parts must share model, probes and plan set.
void merge_sweep_runs(const std::string& out_dir, const std::vector<std::string>& parts,
                      bool draw = true);

}  // namespace encore
