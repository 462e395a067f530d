// `encore choose -m MODEL -i RECORDS -o OUT`: multiple choice, lm-evaluation-harness style (see
// src/score/choose.h). Records {"id"?, "context", "choices": [...], "gold"?} in (JSON lines);
// per record the choices' summed log-likelihoods, token and byte counts, the argmax by sum and
// per byte, and correctness when gold is given, appended to OUT batch by batch (resumable like
// `encore score`); at the end one JSON line on stdout with acc and acc_norm.
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "score/choose.h"
#include "score/records.h"
#include "score/result_log.h"
#include "score/rubric.h"
#include "tokenizer/tokenizer.h"

namespace encore::cli {

namespace {

struct ChooseArgs {
    ModelArgs model;
    std::string input, output;
    int64_t batch = 16;
    bool skip_bad = false;
};

void run_choose(const ChooseArgs& a) {
    if (a.output.size() >= 4 && a.output.compare(a.output.size() - 4, 4, ".csv") == 0)
        fail(ErrorKind::invalid_argument, "--output {}: choose writes JSON lines", a.output);
    const std::vector<InputRecord> records = read_records(a.input);
    const Loaded loaded = load_model(a.model);
    const Tokenizer& tokenizer = loaded.model->tokenizer();
    auto engine = make_engine(loaded, a.model);
    const std::string hash =
        hash_hex("choose|" + loaded.model->identity() + "|" + loaded.plan.to_spec());

    auto prepared =
        prepare_records(records, a.input, a.skip_bad, true, [&](const InputRecord& rec) {
            return prepare_choice(tokenizer, rec.value, rec.number,
                                  loaded.model->spec().max_position);
        });
    std::vector<ChoiceItem>& items = prepared.items;
    const std::vector<int64_t>& skipped = prepared.skipped;
    if (items.empty()) fail(ErrorKind::invalid_argument, "{}: no records", a.input);

    ResultLog log(a.output, "hash", hash, {});
    int64_t n_gold = 0, correct = 0, correct_norm = 0;
    auto count = [&](const nlohmann::ordered_json& r) {
        if (!r.contains("gold")) return;
        ++n_gold;
        correct += r.value("correct", false) ? 1 : 0;
        correct_norm += r.value("correct_norm", false) ? 1 : 0;
    };
    for (const auto& r : log.existing()) count(r);
    std::vector<ChoiceItem> todo;
    for (const ChoiceItem& item : items)
        if (!log.done(id_key(item.id))) todo.push_back(item);

    ProgressBar bar("choose");
    const auto t0 = Clock::now();
    for (size_t b = 0; b < todo.size(); b += size_t(a.batch)) {
        const size_t e = std::min(todo.size(), b + size_t(a.batch));
        const auto results = choose_batch(*engine, std::span(todo).subspan(b, e - b));
        std::string lines;
        for (const ChoiceResult& r : results) {
            const auto j = choice_result_json(r, hash);
            count(j);
            lines += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
        }
        log.append(lines);
        bar.update(int64_t(e), int64_t(todo.size()),
                   fmt::format("{:.1f} records/s", double(e) / std::max(seconds_since(t0), 1e-9)));
    }
    bar.finish();
    nlohmann::ordered_json j = {{"output", a.output},
                                {"records", int64_t(items.size())},
                                {"scored", int64_t(todo.size())},
                                {"resumed", int64_t(items.size() - todo.size())},
                                {"skipped", skipped},
                                {"with_gold", n_gold}};
    j["acc"] = n_gold ? nlohmann::ordered_json(double(correct) / double(n_gold)) : nullptr;
    j["acc_norm"] =
        n_gold ? nlohmann::ordered_json(double(correct_norm) / double(n_gold)) : nullptr;
    j["seconds"] = seconds_since(t0);
    std::cout << j.dump() << std::endl;
}

}  // namespace

void add_choose(CLI::App& app) {
    auto a = std::make_shared<ChooseArgs>();
    CLI::App* cmd = app.add_subcommand(
        "choose", "multiple choice: summed log-likelihood of each choice after a context");
    add_model_options(cmd, a->model);
    cmd->add_option("-i,--input", a->input, "records: JSON lines {id?, context, choices, gold?}")
        ->required();
    cmd->add_option("-o,--output", a->output, "results (JSON lines); an existing file is resumed")
        ->required();
    cmd->add_option("--batch", a->batch, "records per batch (default 16)")
        ->check(CLI::Range(int64_t(1), int64_t(4096)));
    cmd->add_flag("--skip-bad", a->skip_bad,
                  "skip bad records (listed on stderr) instead of stopping");
    cmd->callback([a] { run_choose(*a); });
}

}  // namespace encore::cli
