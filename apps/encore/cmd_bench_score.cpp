// `encore bench score`: the scoring path against the naive computation, in the same run. A
// synthetic rubric — a P-token prefix, K items of S tokens, L single-token labels (random ids)
// — is scored (a) by a Scorer (prefix prefilled once, items forked from it and evaluated in
// batches of --batch, only their last rows through the output head) and (b) naively: the
// full prompt of every item in a fresh sequence of an engine with the prefix cache off, one item
// at a time. Label log-probabilities must agree within 1e-5 (else the command fails). Each of
// --repeats rounds uses fresh items; each batch of (a) is timed right before (b) of about as
// much work (see the loop), and ratio is the median over these pairs of (b)'s time per item
// over (a)'s, printed as one JSON line with both items/s (medians over rounds), ideal_ratio =
// (P+S)/S, the fraction of it reached, and ratio_of_totals (whole rounds: (b) then (a) seconds
// apart, which a busy machine disturbs unevenly).
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "score/scorer.h"

namespace encore::cli {

namespace {

struct ScoreBenchArgs {
    ModelArgs model;
    int64_t prefix = 512, suffix = 32, count = 64, labels = 10, batch = 32;
    uint64_t seed = 1;
    int64_t repeats = 3;
};

void run_score_bench(const ScoreBenchArgs& a) {
    if (a.prefix < 1 || a.suffix < 1 || a.count < 1 || a.labels < 2)
        fail(ErrorKind::invalid_argument,
             "bench score: --prefix, --suffix, --count must be at least 1 and --labels at least 2");
    const Loaded loaded = load_model(a.model);
    const int64_t vocab = loaded.model->spec().vocab_size;
    if (a.labels > vocab) fail(ErrorKind::invalid_argument, "bench score: more labels than tokens");
    auto pool = std::make_shared<ThreadPool>(a.model.threads);
    auto engine = make_engine(loaded, a.model, pool);
    EngineOptions options;
    options.thread_pool = pool;
    options.backend = a.model.device;
    options.kv_type = parse_kv_type_option(a.model.kv_type);
    if (!a.model.kv_budget.empty())
        options.kv_budget_bytes = parse_bytes(a.model.kv_budget, "--kv-budget");
    options.prefix_cache = false;
    Engine naive_engine(loaded.model, loaded.plan, options);

    std::mt19937 rng(uint32_t(a.seed));
    auto random_tokens = [&](int64_t n) {
        std::vector<int32_t> t(static_cast<size_t>(n));
        for (auto& id : t) id = int32_t(rng() % uint32_t(vocab));
        return t;
    };
    CompiledCriterion crit;
    crit.name = "score";
    crit.prefix_tokens = random_tokens(a.prefix);
    std::vector<int32_t> label_ids(static_cast<size_t>(vocab));
    for (int64_t i = 0; i < vocab; ++i) label_ids[size_t(i)] = int32_t(i);
    std::shuffle(label_ids.begin(), label_ids.end(), rng);
    for (int64_t l = 0; l < a.labels; ++l)
        crit.labels.push_back({fmt::format("L{}", l), double(l), {label_ids[size_t(l)]}});
    ScorerOptions so;
    so.batch_size = a.batch;
    Scorer scorer(*engine, {crit}, so);
    auto make_items = [&]() {
        std::vector<PreparedItem> items(size_t(a.count));
        for (int64_t i = 0; i < a.count; ++i) {
            items[size_t(i)].id = i;
            items[size_t(i)].tokens = {crit.prefix_tokens};
            const auto s = random_tokens(a.suffix);
            items[size_t(i)].tokens[0].insert(items[size_t(i)].tokens[0].end(), s.begin(), s.end());
        }
        return items;
    };

    // Warm-up: the prefix prefill (once per run, reported apart) and one item each way.
    const auto warm = make_items();
    auto t0 = Clock::now();
    scorer.score(warm[0]);
    const double prefix_s = seconds_since(t0);
    naive_label_logprobs(naive_engine, warm[0].tokens[0], crit.labels);

    // Each batch's scoring (a) is paired with the naive computation (b) of about as much work
    // right after it: m = ceil(batch / ideal ratio) of its items, so that both windows are about
    // equally long and a busy machine disturbs them alike; the pair's ratio is (b) per item over
    // (a) per item. The batch's other items are computed naively too (timed, for the totals and
    // the equality check).
    const double ideal = double(a.prefix + a.suffix) / double(a.suffix);
    std::vector<double> scorer_times, naive_times, ratios, pair_ratios;
    double max_diff = 0;
    for (int64_t round = 0; round < a.repeats; ++round) {
        const auto items = make_items();
        double scorer_s = 0, naive_s = 0;
        for (size_t b = 0; b < items.size(); b += size_t(a.batch)) {
            const size_t e = std::min(items.size(), b + size_t(a.batch));
            t0 = Clock::now();
            const auto results = scorer.score_batch(std::span(items).subspan(b, e - b));
            const double batch_s = seconds_since(t0);
            scorer_s += batch_s;
            const size_t paired = std::min(e - b, size_t(std::ceil(double(e - b) / ideal)));
            double paired_s = 0;
            for (size_t i = b; i < e; ++i) {
                t0 = Clock::now();
                const auto naive =
                    naive_label_logprobs(naive_engine, items[i].tokens[0], crit.labels);
                const double item_s = seconds_since(t0);
                naive_s += item_s;
                if (i - b < paired) paired_s += item_s;
                for (size_t l = 0; l < crit.labels.size(); ++l)
                    max_diff = std::max(
                        max_diff, std::abs(results[i - b].scores[0].raw.logprobs[l] - naive[l]));
            }
            pair_ratios.push_back((paired_s / double(paired)) / (batch_s / double(e - b)));
        }
        scorer_times.push_back(scorer_s);
        naive_times.push_back(naive_s);
        ratios.push_back(naive_s / scorer_s);
    }
    if (max_diff > 1e-5)
        fail(ErrorKind::internal,
             "bench score: label log-probabilities differ from the naive computation by {} "
             "(more than 1e-5)",
             max_diff);
    const double scorer_s = median(scorer_times), naive_s = median(naive_times);
    const double ratio = median(pair_ratios);
    nlohmann::ordered_json j = {{"bench", "score"},
                                {"model", loaded.model->path()},
                                {"layers", loaded.plan.to_spec()},
                                {"device", a.model.device},
                                {"threads", engine->threads().n_threads()},
                                {"prefix", a.prefix},
                                {"suffix", a.suffix},
                                {"count", a.count},
                                {"labels", a.labels},
                                {"batch", a.batch},
                                {"prefix_once_s", prefix_s},
                                {"scored_s", scorer_s},
                                {"naive_s", naive_s},
                                {"scored_items_per_s", double(a.count) / scorer_s},
                                {"naive_items_per_s", double(a.count) / naive_s},
                                {"ratio", ratio},
                                {"ideal_ratio", ideal},
                                {"fraction_of_ideal", ratio / ideal},
                                {"ratio_range",
                                 {*std::min_element(pair_ratios.begin(), pair_ratios.end()),
                                  *std::max_element(pair_ratios.begin(), pair_ratios.end())}},
                                {"pairs", int64_t(pair_ratios.size())},
                                {"ratio_of_totals", median(ratios)},
                                {"max_abs_logprob_diff", max_diff},
                                {"repeats", a.repeats}};
    std::cout << j.dump() << std::endl;
}

}  // namespace

void add_bench_score(CLI::App& bench_cmd) {
    auto a = std::make_shared<ScoreBenchArgs>();
    CLI::App* cmd = bench_cmd.add_subcommand(
        "score", "scoring K items after one rubric prefix: the scoring path vs the naive one");
    add_model_options(cmd, a->model);
    cmd->add_option("--prefix", a->prefix, "prefix tokens P (default 512)");
    cmd->add_option("--suffix", a->suffix, "tokens S per item (default 32)");
    cmd->add_option("--count", a->count, "items K (default 64)");
    cmd->add_option("--labels", a->labels, "labels L, single tokens (default 10)");
    cmd->add_option("--batch", a->batch, "items per batch of the scoring path (default 32)")
        ->check(CLI::Range(int64_t(1), int64_t(4096)));
    cmd->add_option("--seed", a->seed, "seed of the random token ids (default 1)");
    cmd->add_option("--repeats", a->repeats, "rounds on fresh items; medians reported (default 3)")
        ->check(CLI::Range(int64_t(1), int64_t(1000)));
    cmd->callback([a] { run_score_bench(*a); });
}

}  // namespace encore::cli
