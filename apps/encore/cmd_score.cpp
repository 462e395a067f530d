// `encore score -m MODEL -r RUBRIC -i ITEMS -o OUT`: every record of ITEMS (JSON lines or CSV)
// scored against the rubric (see src/score/scorer.h), one result per item appended to OUT
// (JSON lines, or CSV when it ends in .csv) batch by batch. Everything is checked before any
// computing starts: the rubric, every record (parsed, every slot filled, tokenized, within the
// model's context), the output file's earlier results; a bad record stops the run naming its
// line and field, or is skipped and listed with --skip-bad. A re-run with the same OUT scores
// only the items not there yet. At the end a summary per criterion: a table on stderr and one
// JSON line on stdout. Under `mpirun -np N` every rank prepares the rubric and the items; rank 0
// hands the items to score out in batches to ranks 1.. and writes the same file as one process
// (see src/score/score_mpi.h).
#include <iostream>
#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "score/mpi_jobs.h"
#include "score/records.h"
#include "score/result_log.h"
#include "score/score_mpi.h"
#include "score/score_output.h"
#include "score/scorer.h"
#include "tokenizer/tokenizer.h"

namespace encore::cli {

namespace {

struct ScoreArgs {
    ModelArgs model;
    std::string rubric, input, output, chat_template;
    int64_t batch = 32;
    bool skip_bad = false;
    double low_mass = 0.5;
};

std::string format_eta(double seconds) {
    const int64_t s = int64_t(seconds + 0.5);
    return s >= 3600 ? fmt::format("{}h{:02}m", s / 3600, s / 60 % 60)
                     : fmt::format("{}m{:02}s", s / 60, s % 60);
}

void run_score(const ScoreArgs& a) {
    const bool distributed = mpi_size() > 1, rank0 = mpi_rank() == 0;
    const Rubric rubric = Rubric::from_file(a.rubric);
    const std::vector<InputRecord> records = read_records(a.input);
    const Loaded loaded = load_model(a.model);
    const Tokenizer& tokenizer = loaded.model->tokenizer();
    std::optional<ModelChat> chat;
    if (rubric.chat) chat = find_chat_template(loaded.model->path(), "", a.chat_template);
    auto engine = make_engine(loaded, a.model);
    ScorerOptions options;
    options.batch_size = a.batch;
    Scorer scorer(*engine, rubric, tokenizer, chat ? &*chat : nullptr, options);

    // Every record checked before anything is computed.
    auto prepared = prepare_records(
        records, a.input, a.skip_bad, rank0,
        [&](const InputRecord& rec) { return scorer.prepare(rec.value, rec.number); });
    std::vector<PreparedItem>& items = prepared.items;
    const std::vector<int64_t>& skipped = prepared.skipped;
    if (items.empty()) fail(ErrorKind::invalid_argument, "{}: no items to score", a.input);
    if (!rank0) {  // a worker: scores what rank 0 hands over
        score_items_mpi(scorer, items, {}, a.batch, {});
        return;
    }

    ResultLog log(a.output, "rubric_hash", scorer.hash(), result_csv_header(scorer));
    ScoreSummary summary(scorer, a.low_mass);
    std::vector<size_t> todo;  // indices into items
    int64_t resumed = 0;
    for (const auto& r : log.existing()) summary.add_existing(r);
    for (size_t i = 0; i < items.size(); ++i) {
        if (log.done(id_key(items[i].id)))
            ++resumed;
        else
            todo.push_back(i);
    }

    ProgressBar bar("score");
    const auto t0 = Clock::now();
    size_t next = 0;
    int64_t done = 0;
    const auto on_batch = [&](std::vector<ItemResult>& results) {
        std::string lines;
        for (const ItemResult& r : results) {
            lines += log.is_csv() ? result_csv_row(scorer, r) : result_json_line(scorer, r);
            summary.add(r);
        }
        log.append(lines);
        done += int64_t(results.size());
        const double elapsed = seconds_since(t0);
        const double rate = double(done) / std::max(elapsed, 1e-9);
        bar.update(done, int64_t(todo.size()),
                   fmt::format("{:.1f} items/s, ETA {}", rate,
                               format_eta(double(int64_t(todo.size()) - done) / rate)));
    };
    if (distributed)
        score_items_mpi(scorer, items, todo, a.batch, on_batch);
    else
        scorer.score_stream(
            [&]() -> std::optional<PreparedItem> {
                if (next == todo.size()) return std::nullopt;
                return items[todo[next++]];
            },
            on_batch);
    bar.finish();
    const double elapsed = seconds_since(t0);
    std::fputs(summary.table().c_str(), stderr);
    nlohmann::ordered_json j = {{"output", a.output},
                                {"rubric_hash", scorer.hash()},
                                {"items", int64_t(items.size())},
                                {"scored", done},
                                {"resumed", resumed},
                                {"skipped", skipped},
                                {"seconds", elapsed},
                                {"items_per_s", done ? double(done) / elapsed : 0.0},
                                {"criteria", summary.to_json()}};
    std::cout << j.dump() << std::endl;
    report_kv_stats(*engine, a.model);
}

}  // namespace

void add_score(CLI::App& app) {
    auto a = std::make_shared<ScoreArgs>();
    CLI::App* cmd = app.add_subcommand(
        "score", "score items against a rubric: label probabilities, expected value per criterion");
    add_model_options(cmd, a->model);
    cmd->add_option("-r,--rubric", a->rubric, "rubric file (YAML or JSON)")->required();
    cmd->add_option("-i,--input", a->input, "items: JSON lines or .csv")->required();
    cmd->add_option("-o,--output", a->output,
                    "results: JSON lines, or CSV when it ends in .csv; an existing file is resumed")
        ->required();
    cmd->add_option("--batch", a->batch, "items per batch (default 32)")
        ->check(CLI::Range(int64_t(1), int64_t(4096)));
    cmd->add_flag("--skip-bad", a->skip_bad,
                  "skip bad records (listed on stderr) instead of stopping");
    cmd->add_option(
        "--low-mass", a->low_mass,
        "label mass below which an item counts as low-mass in the summary (default 0.5)");
    cmd->add_option("--chat-template", a->chat_template,
                    "a Jinja chat template file to use instead of the model's (chat rubrics)");
    cmd->callback([a] {
        if (mpi_size() == 1) return run_score(*a);
        try {  // under mpirun a failing rank ends them all (no rank left waiting)
            run_score(*a);
        } catch (const Error& e) {
            mpi_abort_all(e.what());
        }
    });
}

}  // namespace encore::cli
