// `encore bench prefix`: what reusing a prefix's KV saves. K items of a P-token prefix followed
// by an S-token suffix (random ids) are scored (logits of the last token) three ways:
//   (a) with reuse: the prefix prefilled once without logits, each item forked from it and only
//       its suffix prefilled;
//   (a) batched: the same, all K forks evaluated in one Engine::eval (as a scoring run does);
//   (b) without: a second engine with the prefix cache off computes prefix + suffix of every
//       item from scratch.
// The last logits of every item must be bitwise equal all ways (else the command fails). Each
// of --repeats rounds, on fresh suffixes, times the three ways one after the other, so that
// machine noise hits them alike. Printed as one JSON line: the times, ratio = (b) / (a's
// per-item time) and ratio_batched = (b) / (a batched) as medians over rounds, the ideal ratio
// (P+S)/S that skipping the prefix's work would give, and the ratios as fractions of it. The
// one-time prefix prefill of (a) is reported apart (it is amortized over all items of a scoring
// run); `ratio_with_prefix` counts it in.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "engine/sequence.h"

namespace encore::cli {

namespace {

struct PrefixBenchArgs {
    ModelArgs model;
    int64_t prefix = 512;
    int64_t suffix = 32;
    int64_t count = 16;
    uint64_t seed = 1;
    int64_t repeats = 5;
};

void run_prefix_bench(const PrefixBenchArgs& a) {
    if (a.prefix < 1 || a.suffix < 1 || a.count < 1)
        fail(ErrorKind::invalid_argument,
             "bench prefix: --prefix, --suffix and --count must be at least 1 (got {}, {}, {})",
             a.prefix, a.suffix, a.count);
    const Loaded loaded = load_model(a.model);
    const int64_t vocab = loaded.model->spec().vocab_size;
    // One thread pool for the three engines, so that none competes with another's idle workers.
    auto pool = std::make_shared<ThreadPool>(a.model.threads);
    auto with_engine = make_engine(loaded, a.model, pool);
    EngineOptions options = engine_options(a.model);
    options.thread_pool = pool;
    options.prefix_cache = false;
    Engine without_engine(loaded.model, loaded.plan, options);

    std::mt19937 rng(uint32_t(a.seed));
    auto random_tokens = [&](int64_t n) {
        std::vector<int32_t> t(static_cast<size_t>(n));
        for (auto& id : t) id = int32_t(rng() % uint32_t(vocab));
        return t;
    };
    const std::vector<int32_t> prefix = random_tokens(a.prefix);
    std::vector<std::vector<int32_t>> suffixes;
    for (int64_t i = 0; i < a.count; ++i) suffixes.push_back(random_tokens(a.suffix));

    // Warm-up (threads, scratch buffers) on tokens that share nothing with the measured ones.
    {
        const std::vector<int32_t> warm = random_tokens(a.prefix + a.suffix);
        Sequence s1(*with_engine), s2(without_engine);
        s1.prefill(warm, Logits::last);
        s2.prefill(warm, Logits::last);
    }

    // (a) the prefix once, on the engine of the one-at-a-time items and on the batch engine.
    Sequence base(*with_engine);
    auto t0 = Clock::now();
    base.prefill(prefix, Logits::none);
    const double prefix_s = seconds_since(t0);
    auto batch_engine = make_engine(loaded, a.model, pool);
    Sequence batch_base(*batch_engine);
    batch_base.prefill(prefix, Logits::none);

    // Rounds, each on fresh suffixes (so no round finds the last one's suffix blocks cached):
    // the K items (a) forked and scored one by one, (b) recomputed from scratch, (a) batched:
    // all K forks in one eval. Each way runs its items back to back, as a scoring run would
    // (interleaving them put every reused item right after a full recompute that had evicted
    // its caches). Each round gives its own ratios, from timings seconds apart; the medians
    // over rounds are reported, so one disturbed round (a shared machine) does not decide.
    std::vector<double> with_times, without_times, batched_times, ratios, batched_ratios;
    for (int64_t round = 0; round < a.repeats; ++round) {
        std::vector<std::vector<int32_t>> suffixes;
        for (int64_t i = 0; i < a.count; ++i) suffixes.push_back(random_tokens(a.suffix));
        // (a) every item forked and its suffix scored, one after another (as a scoring run
        // without batching does).
        double with_s = 0, without_s = 0;
        std::vector<std::vector<float>> item_logits;  // [count][vocab]
        for (int64_t i = 0; i < a.count; ++i) {
            t0 = Clock::now();
            std::unique_ptr<Sequence> item = base.fork();
            item->prefill(suffixes[size_t(i)], Logits::last);
            with_s += seconds_since(t0);
            item_logits.emplace_back(item->last_logits().begin(), item->last_logits().end());
        }
        // (b) every item from scratch.
        for (int64_t i = 0; i < a.count; ++i) {
            std::vector<int32_t> all = prefix;
            all.insert(all.end(), suffixes[size_t(i)].begin(), suffixes[size_t(i)].end());
            t0 = Clock::now();
            Sequence full(without_engine);
            full.prefill(all, Logits::last);
            without_s += seconds_since(t0);
            const auto without_logits = full.last_logits();  // [vocab]
            if (std::memcmp(item_logits[size_t(i)].data(), without_logits.data(),
                            without_logits.size() * sizeof(float)) != 0)
                fail(ErrorKind::internal,
                     "bench prefix: item {}: the last logits with prefix reuse differ from a full "
                     "recompute (they must be bitwise equal)",
                     i);
        }

        // (a) batched: all items forked and their suffixes evaluated in one batch.
        t0 = Clock::now();
        std::vector<std::unique_ptr<Sequence>> forks;
        std::vector<EvalItem> batch;
        for (int64_t i = 0; i < a.count; ++i) {
            forks.push_back(batch_base.fork());
            batch.push_back({forks.back().get(), suffixes[size_t(i)], Logits::last});
        }
        batch_engine->eval(batch);
        const double batched_s = seconds_since(t0);
        for (int64_t i = 0; i < a.count; ++i)
            if (std::memcmp(forks[size_t(i)]->last_logits().data(), item_logits[size_t(i)].data(),
                            item_logits[size_t(i)].size() * sizeof(float)) != 0)
                fail(ErrorKind::internal,
                     "bench prefix: item {}: the last logits in a batch of {} forks differ from "
                     "the item evaluated alone (they must be bitwise equal)",
                     i, a.count);
        with_times.push_back(with_s);
        without_times.push_back(without_s);
        batched_times.push_back(batched_s);
        ratios.push_back(without_s / with_s);
        batched_ratios.push_back(without_s / batched_s);
    }
    const double with_s = median(with_times), without_s = median(without_times);
    const double batched_s = median(batched_times);
    const double ratio = median(ratios), ratio_batched = median(batched_ratios);
    const double ideal = double(a.prefix + a.suffix) / double(a.suffix);
    // The same ideal counting multiply-adds: the matrices per token, and attention per
    // (query, key) pair, which a suffix token pays over P + its position, so skipping the
    // prefix saves less than (P+S)/S of the work. The output head (one row per item both
    // ways) is left out.
    const ModelSpec& spec = loaded.model->spec();
    const double d = double(spec.n_embd);
    const double per_token =
        double(loaded.plan.n_instances()) *
        (d * double(spec.q_dim()) * 2 + d * double(spec.kv_dim()) * 2 + 3 * d * double(spec.n_ff));
    const double per_pair =
        double(loaded.plan.n_instances()) * double(spec.n_heads) * double(spec.head_dim) * 2;
    auto pairs = [](double from, double to) {  // sum of (p + 1) for p in [from, to)
        return (to * (to + 1) - from * (from + 1)) / 2;
    };
    const double P = double(a.prefix), S = double(a.suffix);
    const double macs_without = (P + S) * per_token + pairs(0, P + S) * per_pair;
    const double macs_with = S * per_token + pairs(P, P + S) * per_pair;
    const double mac_ideal = macs_without / macs_with;
    const PrefixStats& stats = with_engine->kv().stats();
    nlohmann::json j = {{"bench", "prefix"},
                        {"model", loaded.model->path()},
                        {"layers", loaded.plan.to_spec()},
                        {"device", a.model.device},
                        {"threads", with_engine->threads().n_threads()},
                        {"prefix", a.prefix},
                        {"suffix", a.suffix},
                        {"count", a.count},
                        {"prefix_once_s", prefix_s},
                        {"with_reuse_s", with_s},
                        {"without_reuse_s", without_s},
                        {"ratio", ratio},
                        {"ideal_ratio", ideal},
                        {"fraction_of_ideal", ratio / ideal},
                        {"ratio_with_prefix", without_s / (with_s + prefix_s)},
                        {"mac_ideal_ratio", mac_ideal},
                        {"fraction_of_mac_ideal", ratio / mac_ideal},
                        {"with_reuse_batched_s", batched_s},
                        {"ratio_batched", ratio_batched},
                        {"fraction_of_ideal_batched", ratio_batched / ideal},
                        {"ratio_batched_range",
                         {*std::min_element(batched_ratios.begin(), batched_ratios.end()),
                          *std::max_element(batched_ratios.begin(), batched_ratios.end())}},
                        {"repeats", a.repeats},
                        {"bitwise_equal", true},
                        {"prefix_cache",
                         {{"hits", stats.hits},
                          {"misses", stats.misses},
                          {"evictions", stats.evictions},
                          {"published", stats.published}}}};
    std::cout << j.dump() << std::endl;
}

}  // namespace

void add_bench_prefix(CLI::App& bench_cmd) {
    auto a = std::make_shared<PrefixBenchArgs>();
    CLI::App* cmd = bench_cmd.add_subcommand(
        "prefix", "scoring K suffixes after one prefix: KV reuse (fork) vs full recompute");
    add_model_options(cmd, a->model);
    cmd->add_option("--prefix", a->prefix, "prefix tokens P (default 512)");
    cmd->add_option("--suffix", a->suffix, "suffix tokens S per item (default 32)");
    cmd->add_option("--count", a->count, "items K (default 16)");
    cmd->add_option("--seed", a->seed, "seed of the random token ids (default 1)");
    cmd->add_option("--repeats", a->repeats,
                    "rounds, each on fresh suffixes; medians over rounds are reported (default 5)")
        ->check(CLI::Range(int64_t(1), int64_t(1000)));
    cmd->callback([a] { run_prefix_bench(*a); });
}

}  // namespace encore::cli
