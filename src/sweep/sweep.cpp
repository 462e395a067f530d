// The sweep driver (see sweep.h).
#include "sweep/sweep.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.h"
#include "core/mapped_file.h"
#include "model/model.h"
#include "sweep/layer_distance.h"
#include "sweep/metrics.h"
#include "sweep/report.h"
#include "sweep/run_dir.h"

namespace encore {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json results_row(const SweepPlan& plan, const std::map<std::string, MetricResult>& metrics,
                 const json& per_item) {
    json m = json::object();
    for (const auto& [name, r] : metrics)
        m[name] = {{"value", r.value}, {"delta", r.delta}, {"ci", {r.ci_lo, r.ci_hi}}};
    return {{"plan", plan.name},
            {"i", plan.i ? json(*plan.i) : json()},
            {"j", plan.j ? json(*plan.j) : json()},
            {"layers", plan.plan.layers},
            {"n_instances", plan.plan.n_instances()},
            {"metrics", m},
            {"per_item", per_item}};
}

json samples_json(const std::string& plan, const std::vector<GenSample>& samples) {
    json out = json::array();
    for (const GenSample& s : samples)
        out.push_back({{"plan", plan},
                       {"prompt", s.prompt},
                       {"text", s.text},
                       {"tokens", s.tokens},
                       {"stop_reason", s.stop_reason}});
    return out;
}

}  // namespace

Sweep::Sweep(std::shared_ptr<const Model> model, SweepOptions options)
    : model_(std::move(model)), options_(std::move(options)) {
    if (!options_.engine.kv_type)
        options_.engine.kv_type = default_kv_type(options_.engine.backend, *model_);
    if (options_.plans.size() < 2 || !options_.plans[0].is_base())
        fail(ErrorKind::invalid_argument, "empty plan set: nothing to measure beyond the base");
    if (!options_.probes.any())
        fail(ErrorKind::invalid_argument,
             "no probe: give --ppl, --prompts, --rubric with --items, or --choices (what each "
             "plan is measured by)");
    inputs_ = load_probe_inputs(options_.probes, *model_);
    threads_ = options_.engine.thread_pool
                   ? options_.engine.thread_pool
                   : std::make_shared<ThreadPool>(options_.engine.n_threads);
    backend_ = options_.engine.shared_backend ? options_.engine.shared_backend
                                              : make_backend(options_.engine, *threads_);
    const auto shard = shard_plans(options_.plans, options_.shard_k, options_.shard_n);
    std::set<std::string> in_shard;
    for (const auto& p : shard) in_shard.insert(p.name);
    for (size_t k = 0; k < options_.plans.size(); ++k)
        if (in_shard.count(options_.plans[k].name)) own_.push_back(k);

    const ProbeConfig& pc = options_.probes;
    json probes = json::object(), files = json::object();
    if (!pc.ppl_file.empty()) {
        probes["ppl"] = {{"sha", inputs_.ppl_sha},
                         {"ctx", pc.ppl_ctx},
                         {"windows", inputs_.windows.size()},
                         {"tokens", inputs_.ppl_tokens}};
        files["ppl"] = pc.ppl_file;
    }
    if (!pc.prompts_file.empty()) {
        json sampling = "greedy";
        if (!pc.greedy)
            sampling = {{"temperature", pc.sampling.temperature},
                        {"top_k", pc.sampling.top_k},
                        {"top_p", pc.sampling.top_p},
                        {"min_p", pc.sampling.min_p},
                        {"seed", pc.sampling.seed}};
        probes["gen"] = {{"sha", inputs_.prompts_sha},
                         {"prompts", inputs_.prompts.size()},
                         {"gen_tokens", pc.gen_tokens},
                         {"min_tokens", pc.min_tokens},
                         {"sampling", sampling}};
        files["prompts"] = pc.prompts_file;
    }
    if (!pc.rubric_file.empty()) {
        probes["rubric"] = {{"rubric_sha", inputs_.rubric_sha},
                            {"items_sha", inputs_.items_sha},
                            {"items", inputs_.items.size()}};
        files["rubric"] = pc.rubric_file;
        files["items"] = pc.items_file;
    }
    if (!pc.choices_file.empty()) {
        probes["choice"] = {{"sha", inputs_.choices_sha}, {"records", inputs_.choices.size()}};
        files["choices"] = pc.choices_file;
    }
    json metrics = json::array(), plans = json::array();
    for (const MetricDef& m : sweep_metrics(pc))
        metrics.push_back({{"name", m.name},
                           {"label", m.label},
                           {"better", m.lower_is_better ? "lower" : "higher"}});
    for (const SweepPlan& p : options_.plans) plans.push_back(p.name);
    run_ = {{"version", 1},
            {"model", options_.model_path},
            {"model_identity", model_->identity()},
            {"n_layers", model_->spec().n_layers},
            {"probes", probes},
            {"probe_files", files},
            {"metrics", metrics},
            {"plans", plans}};
    if (options_.shard_n > 1)
        run_["shard"] = std::to_string(options_.shard_k) + "/" + std::to_string(options_.shard_n);
    // Results depend on the KV storage type: a run resumes only with the type it started with
    // (recorded only when not f32, so that earlier run directories stay resumable).
    if (*options_.engine.kv_type != DType::f32)
        run_["kv_type"] = std::string(dtype_name(*options_.engine.kv_type));
    if (options_.engine.deterministic) run_["deterministic"] = true;  // other GPU algorithms
}

Sweep::~Sweep() {
    if (lock_fd_ >= 0) ::close(lock_fd_);
}

std::string Sweep::path(const char* name) const {
    return (fs::path(options_.run_dir) / name).string();
}

std::unique_ptr<Engine> Sweep::make_engine(const LayerPlan& plan) const {
    EngineOptions o = options_.engine;
    o.thread_pool = threads_;
    o.shared_backend = backend_;
    const ModelSpec& spec = model_->spec();
    int64_t positions = 1;
    for (const auto& w : inputs_.windows) positions = std::max(positions, int64_t(w.size()));
    for (const auto& p : inputs_.prompt_ids)
        positions = std::max(positions, int64_t(p.size()) + options_.probes.gen_tokens + 1);
    const int64_t blocks = (positions + o.block_size - 1) / o.block_size + 4;
    const int64_t per_block =
        int64_t(plan.n_instances()) * 2 * spec.kv_dim() * o.block_size * kv_type_bytes(*o.kv_type);
    o.kv_budget_bytes = 2 * blocks * per_block;  // twice: room for blocks the prefix index keeps
    // Scoring keeps every criterion's prefix and forks a batch of items from it. The base's engine
    // takes the automatic budget (8192 positions or the model's context, within the memory; the
    // Scorer halves a batch that does not fit); the others twice the blocks the base's probes
    // referenced at most, the same work (on a GPU up to 35 GB less to allocate and clear per plan
    // for Llama 3's context), or the automatic budget where that is not less than the base's
    // pool, which fit.
    if (inputs_.rubric || !inputs_.choices.empty()) {
        const int64_t needed = 2 * (int64_t(base_peak_blocks_) + 4) * per_block;
        o.kv_budget_bytes = base_peak_blocks_ > 0 && needed < base_pool_bytes_ ? needed : 0;
    }
    return std::make_unique<Engine>(model_, plan, o);
}

void Sweep::ensure_base_stems() {
    if (base_stems_) return;
    auto engine = make_engine(options_.plans[0].plan);
    BaseStems stems;
    stems.budget_bytes = options_.stem_store_bytes;
    if (stems.budget_bytes < 0) {
        const Backend& backend = engine->backend();
        stems.budget_bytes =
            backend.host_memory()
                ? int64_t(1) << 30
                : std::max<int64_t>(0, backend.memory_free() - model_->weight_bytes()) / 4;
    }
    stems.capture_scoring = options_.stem_reuse;
    PlanMeasurement m = measure_plan(*engine, inputs_, options_.probes, &stems, nullptr);
    base_pool_bytes_ = int64_t(engine->kv().n_blocks()) * engine->kv().bytes_per_block();
    base_peak_blocks_ = engine->kv().peak_referenced();
    if (!base_) base_ = std::move(m);
    std::vector<StemState> kept_windows;  // the distance map averages over the windows kept
    for (const StemState& s : stems.windows)
        if (s.memory) kept_windows.push_back(s);
    if (coordinator_ && !kept_windows.empty() && !fs::exists(path("distance.json")))
        write_json_file(
            path("distance.json"),
            layer_distance_json(layer_distance(kept_windows, engine->backend(),
                                               model_->spec().n_layers, model_->spec().n_embd)));
    base_stems_ = std::move(stems);
}

std::vector<size_t> Sweep::prepare() {
    coordinator_ = true;
    std::error_code ec;
    fs::create_directories(options_.run_dir, ec);
    if (ec || !fs::is_directory(options_.run_dir))
        fail(ErrorKind::io, "{}: cannot create the run directory", options_.run_dir);
    // One sweep at a time in a run directory: a second would measure and append the same plans.
    lock_fd_ = ::open(path(".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0 || ::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
        fail(ErrorKind::invalid_argument,
             "{}: the run directory is in use by another sweep (wait for it or stop it)",
             options_.run_dir);
    const std::string run_path = path("run.json");
    if (fs::exists(run_path)) {
        json existing;
        try {
            existing = json::parse(read_file(run_path));
        } catch (const json::exception& e) {
            fail(ErrorKind::format, "{}: not valid JSON ({})", run_path, e.what());
        }
        check_same_run(existing, run_, run_path);
    } else {
        if (fs::exists(path("results.jsonl")))
            fail(ErrorKind::invalid_argument,
                 "{}: has results.jsonl but no run.json (not a run directory of this sweep)",
                 options_.run_dir);
        write_json_file(run_path, run_);
    }
    // Completed plans; a torn line is dropped, samples of unfinished plans removed.
    std::vector<json> rows = read_json_lines(path("results.jsonl"), true);
    std::set<std::string> done;
    std::map<std::string, size_t> index;
    for (size_t k = 0; k < options_.plans.size(); ++k) index[options_.plans[k].name] = k;
    for (const json& r : rows) {
        const std::string name = r.value("plan", "");
        if (!index.count(name))
            fail(ErrorKind::format, "{}: plan '{}' is not in this sweep's plan set",
                 path("results.jsonl"), name);
        if (!done.insert(name).second)
            fail(ErrorKind::format, "{}: plan '{}' appears twice", path("results.jsonl"), name);
        if (name == "base") base_ = PlanMeasurement::from_json(r.at("per_item"));
    }
    std::vector<json> samples = read_json_lines(path("samples.jsonl"), true);
    std::vector<json> kept;
    for (json& s : samples)
        if (done.count(s.value("plan", ""))) kept.push_back(std::move(s));
    if (kept.size() != samples.size()) write_json_lines(path("samples.jsonl"), kept);

    // The base is measured first: its values are every delta's reference (and its run captures
    // the stems the other plans start from, and the layer-distance map).
    if (!done.count("base")) {
        record(measure(0));
        done.insert("base");
    }
    std::vector<size_t> todo;
    for (size_t k : own_)
        if (!done.count(options_.plans[k].name)) todo.push_back(k);
    return todo;
}

json Sweep::measure(size_t index) {
    const SweepPlan& plan = options_.plans.at(index);
    using Clock = std::chrono::steady_clock;
    auto seconds = [](Clock::time_point a, Clock::time_point b) {
        return std::chrono::duration<double>(b - a).count();
    };
    PlanMeasurement m;
    const auto t0 = Clock::now();
    if (plan.is_base()) {
        base_stems_.reset();
        base_.reset();
        ensure_base_stems();
        m = *base_;
        timing_.base += seconds(t0, Clock::now());
    } else {
        if (options_.stem_reuse) ensure_base_stems();
        const auto t1 = Clock::now();
        timing_.base += seconds(t0, t1);
        auto engine = make_engine(plan.plan);
        const auto t2 = Clock::now();
        m = measure_plan(*engine, inputs_, options_.probes, nullptr,
                         options_.stem_reuse ? &*base_stems_ : nullptr);
        const auto t3 = Clock::now();
        engine.reset();
        timing_.engines += seconds(t1, t2) + seconds(t3, Clock::now());
        timing_.probes += seconds(t2, t3);
    }
    json samples = samples_json(plan.name, m.samples);
    return {{"index", index}, {"per_item", m.to_json()}, {"samples", samples}};
}

void Sweep::record(const json& measured) {
    const size_t index = measured.at("index").get<size_t>();
    const SweepPlan& plan = options_.plans.at(index);
    const PlanMeasurement m = PlanMeasurement::from_json(measured.at("per_item"));
    if (plan.is_base()) base_ = m;
    if (!base_) fail(ErrorKind::internal, "internal error: a plan recorded before the base");
    const auto metrics = compute_metrics(m, *base_, plan.is_base());
    for (const json& s : measured.at("samples")) append_json_line(path("samples.jsonl"), s);
    append_json_line(path("results.jsonl"), results_row(plan, metrics, measured.at("per_item")));
}

void Sweep::finish() {
    base_stems_.reset();  // every plan is measured: the stem states are no longer needed
    std::vector<json> rows = in_plan_order(run_, read_json_lines(path("results.jsonl"), true));
    write_json_lines(path("results.jsonl"), rows);
    if (fs::exists(path("samples.jsonl")))
        write_json_lines(path("samples.jsonl"),
                         in_plan_order(run_, read_json_lines(path("samples.jsonl"), true)));
    write_results_csv(path("results.csv"), run_, rows);
    if (options_.draw) draw_sweep_report(options_.run_dir);
}

SweepTiming run_sweep(std::shared_ptr<const Model> model, const SweepOptions& options,
                      const std::function<void(int64_t, int64_t)>& progress) {
    Sweep sweep(std::move(model), options);
    const std::vector<size_t> todo = sweep.prepare();
    const int64_t total = int64_t(sweep.own_plans().size());
    int64_t done = total - int64_t(todo.size());
    if (progress) progress(done, total);
    for (size_t index : todo) {
        sweep.record(sweep.measure(index));
        if (progress) progress(++done, total);
    }
    sweep.finish();
    return sweep.timing();
}

}  // namespace encore
