// Probe inputs and the measurement of one plan (see probes.h).
#include "sweep/probes.h"

#include <array>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/mapped_file.h"
#include "engine/generate.h"
#include "engine/perplexity.h"
#include "engine/sequence.h"
#include "score/records.h"
#include "score/scorer.h"
#include "tokenizer/tokenizer.h"

namespace encore {

namespace {

std::string fingerprint(const std::string& data) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : data) h = (h ^ c) * 1099511628211ull;
    return fmt::format("{:016x}", h);
}

std::string read_probe_file(const std::string& path, const char* option) {
    if (!std::filesystem::is_regular_file(path))
        fail(ErrorKind::io, "{} {}: file not found", option, path);
    return read_file(path);
}

// Runs `tokens` on `seq` (empty), with stem capture or reuse as asked.
void run_input(Engine& engine, Sequence& seq, const std::vector<int32_t>& tokens, Logits logits,
               StemState* capture, const StemState* from) {
    if (!capture && !from) {
        seq.prefill(tokens, logits);
        return;
    }
    StemRun run;
    run.capture = capture;
    if (from) {
        run.from = from;
        run.start = from->shared_instances(engine.plan().layers);
    }
    engine.eval_stem(EvalItem{&seq, tokens, logits}, run);
}

}  // namespace

ProbeInputs load_probe_inputs(const ProbeConfig& config, const Model& model) {
    ProbeInputs in;
    const Tokenizer& tok = model.tokenizer();
    int64_t bos = model.spec().bos_token_id;
    if (auto b = tok.bos_id()) bos = *b;
    if (!config.ppl_file.empty()) {
        const std::string text = read_probe_file(config.ppl_file, "--ppl");
        in.ppl_sha = fingerprint(text);
        const std::vector<int32_t> tokens = tok.encode(text, false);
        if (config.ppl_ctx < 2)
            fail(ErrorKind::invalid_argument, "--ppl-ctx must be at least 2, got {}",
                 config.ppl_ctx);
        if (config.ppl_windows < 0)
            fail(ErrorKind::invalid_argument, "--ppl-windows must be >= 0, got {}",
                 config.ppl_windows);
        in.windows = perplexity_windows(tokens, config.ppl_ctx, bos, config.ppl_windows);
        for (const auto& w : in.windows) in.ppl_tokens += int64_t(w.size()) - 1;
        if (in.ppl_tokens == 0)
            fail(ErrorKind::invalid_argument, "--ppl {}: no tokens to predict", config.ppl_file);
    }
    if (!config.prompts_file.empty()) {
        std::istringstream lines(read_probe_file(config.prompts_file, "--prompts"));
        in.prompts_sha = fingerprint(lines.str());
        std::string line;
        while (std::getline(lines, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.empty()) continue;
            in.prompts.push_back(line);
            in.prompt_ids.push_back(tok.encode(line, true));
        }
        if (in.prompts.empty())
            fail(ErrorKind::invalid_argument, "--prompts {}: no prompt (one per line)",
                 config.prompts_file);
        if (config.gen_tokens < 1)
            fail(ErrorKind::invalid_argument, "--gen-tokens must be at least 1, got {}",
                 config.gen_tokens);
    }
    if (config.rubric_file.empty() != config.items_file.empty())
        fail(ErrorKind::invalid_argument, "the rubric probe needs both --rubric R and --items F");
    if (!config.rubric_file.empty()) {
        in.rubric_sha = fingerprint(read_probe_file(config.rubric_file, "--rubric"));
        in.items_sha = fingerprint(read_probe_file(config.items_file, "--items"));
        auto rubric = std::make_shared<Rubric>(Rubric::from_file(config.rubric_file));
        if (rubric->chat) {
            auto chat = find_chat_template(model.path());
            if (!chat)
                fail(ErrorKind::invalid_argument,
                     "--rubric {}: a chat rubric, but the model has no chat template",
                     config.rubric_file);
            in.chat = std::make_shared<ModelChat>(std::move(*chat));
        }
        in.rubric = rubric;
        for (const InputRecord& rec : read_records(config.items_file)) {
            if (!rec.error.empty())
                fail(ErrorKind::format, "--items {}: record {}: {}", config.items_file, rec.number,
                     rec.error);
            in.items.push_back(rec.value);
            in.item_numbers.push_back(rec.number);
        }
        if (in.items.empty())
            fail(ErrorKind::invalid_argument, "--items {}: no items", config.items_file);
    }
    if (!config.choices_file.empty()) {
        in.choices_sha = fingerprint(read_probe_file(config.choices_file, "--choices"));
        for (const InputRecord& rec : read_records(config.choices_file)) {
            try {
                if (!rec.error.empty())
                    fail(ErrorKind::format, "record {}: {}", rec.number, rec.error);
                ChoiceItem item =
                    prepare_choice(tok, rec.value, rec.number, model.spec().max_position);
                if (!item.gold)
                    fail(ErrorKind::invalid_argument, "record {}: no \"gold\" answer to score",
                         rec.number);
                in.choices.push_back(std::move(item));
            } catch (const Error& e) {
                fail(e.kind(), "--choices {}: {}", config.choices_file, e.what());
            }
        }
        if (in.choices.empty())
            fail(ErrorKind::invalid_argument, "--choices {}: no records", config.choices_file);
    }
    return in;
}

double repeated_4gram_share(const std::vector<int32_t>& t) {
    if (t.size() < 4) return 0;
    std::set<std::array<int32_t, 4>> seen;
    size_t repeated = 0, total = t.size() - 3;
    for (size_t k = 0; k < total; ++k)
        if (!seen.insert({t[k], t[k + 1], t[k + 2], t[k + 3]}).second) ++repeated;
    return double(repeated) / double(total);
}

double distinct_2(const std::vector<int32_t>& t) {
    if (t.size() < 2) return 1;
    std::set<std::pair<int32_t, int32_t>> seen;
    for (size_t k = 0; k + 1 < t.size(); ++k) seen.insert({t[k], t[k + 1]});
    return double(seen.size()) / double(t.size() - 1);
}

PlanMeasurement measure_plan(Engine& engine, const ProbeInputs& inputs, const ProbeConfig& config,
                             BaseStems* capture, const BaseStems* from) {
    ENCORE_ASSERT(!(capture && from));
    PlanMeasurement m;
    int64_t budget_left = std::numeric_limits<int64_t>::max();
    if (capture) {
        capture->windows.assign(inputs.windows.size(), {});
        capture->prompts.assign(inputs.prompts.size(), {});
        if (capture->budget_bytes >= 0) budget_left = capture->budget_bytes;
    }
    // Where `capture` keeps the state of input k of `states` (n_tokens long), or null: nothing
    // captured, or over the budget.
    auto keep = [&](std::vector<StemState> BaseStems::*states, size_t k,
                    size_t n_tokens) -> StemState* {
        if (!capture) return nullptr;
        const ModelSpec& spec = engine.spec();
        const int64_t bytes = StemStore::state_bytes(int64_t(n_tokens), engine.plan().n_instances(),
                                                     spec.n_embd, spec.kv_dim());
        if (bytes > budget_left) return nullptr;
        budget_left -= bytes;
        return &(capture->*states)[k];
    };
    // The state `from` holds of input k of `states`, or null: nothing reused, or not kept.
    auto held = [&](std::vector<StemState> BaseStems::*states, size_t k) -> const StemState* {
        if (!from) return nullptr;
        const StemState& s = (from->*states)[k];
        return s.memory ? &s : nullptr;
    };
    Sequence seq(engine);
    for (size_t w = 0; w < inputs.windows.size(); ++w) {
        const std::vector<int32_t>& window = inputs.windows[w];
        seq.truncate(0);
        run_input(engine, seq, window, Logits::all, keep(&BaseStems::windows, w, window.size()),
                  held(&BaseStems::windows, w));
        double nll = 0;
        for (size_t i = 0; i + 1 < window.size(); ++i)
            nll -= log_prob(seq.logits_at(int64_t(i)), window[i + 1]);
        m.window_nll.push_back(nll);
        m.window_tokens.push_back(int64_t(window.size()) - 1);
    }
    const Tokenizer& tok = engine.model().tokenizer();
    std::vector<int64_t> eos = engine.spec().eos_token_ids;
    for (int32_t e : tok.eos_ids()) eos.push_back(e);
    GenerateOptions gen;
    gen.max_tokens = config.gen_tokens;
    for (size_t p = 0; p < inputs.prompts.size(); ++p) {
        seq.truncate(0);
        run_input(engine, seq, inputs.prompt_ids[p], Logits::last,
                  keep(&BaseStems::prompts, p, inputs.prompt_ids[p].size()),
                  held(&BaseStems::prompts, p));
        SamplerOptions so = config.sampling;
        if (config.greedy) so.temperature = 0;
        so.seed = config.sampling.seed + p;  // each prompt its own stream, the same in every plan
        Sampler sampler(so);
        GenerateResult r = generate(seq, sampler, gen);
        std::vector<int32_t> body = r.tokens;
        if (r.stop_reason == "eos" && !body.empty()) body.pop_back();
        m.early_stop.push_back(
            r.stop_reason == "eos" && int64_t(body.size()) < config.min_tokens ? 1.0 : 0.0);
        m.repeat4.push_back(repeated_4gram_share(body));
        m.distinct2.push_back(distinct_2(body));
        m.samples.push_back({inputs.prompts[p], r.text, r.stop_reason, r.tokens});
    }
    // The scoring probes: the base's engine records the state of every evaluation, another
    // plan's engine starts each one it finds after the instances it shares with the base.
    if (capture && capture->capture_scoring && (inputs.rubric || !inputs.choices.empty())) {
        capture->scoring = std::make_shared<StemStore>(
            budget_left == std::numeric_limits<int64_t>::max() ? int64_t(1) << 62 : budget_left);
        engine.set_stem_store(capture->scoring, StemStoreUse::capture);
    }
    if (from && from->scoring) engine.set_stem_store(from->scoring, StemStoreUse::reuse);
    if (inputs.rubric) {
        // Items are prepared per plan: the Scorer checks them against this engine's context.
        Scorer scorer(engine, *inputs.rubric, tok, inputs.chat.get());
        std::vector<PreparedItem> items;
        for (size_t k = 0; k < inputs.items.size(); ++k)
            items.push_back(scorer.prepare(inputs.items[k], inputs.item_numbers[k]));
        for (const ItemResult& r : scorer.score_batch(items)) {
            double expected = 0, mass = 0;
            for (const CriterionScore& c : r.scores)
                expected += c.raw.expected, mass += c.raw.label_mass;
            m.rubric_expected.push_back(expected / double(r.scores.size()));
            m.rubric_mass.push_back(mass / double(r.scores.size()));
        }
    }
    constexpr size_t k_choice_batch = 16;
    for (size_t b = 0; b < inputs.choices.size(); b += k_choice_batch) {
        const size_t e = std::min(inputs.choices.size(), b + k_choice_batch);
        for (const ChoiceResult& r :
             choose_batch(engine, std::span(inputs.choices).subspan(b, e - b))) {
            m.choice_acc.push_back(r.argmax == *r.gold ? 1.0 : 0.0);
            m.choice_acc_norm.push_back(r.argmax_norm == *r.gold ? 1.0 : 0.0);
        }
    }
    engine.set_stem_store(nullptr, StemStoreUse::reuse);
    return m;
}

nlohmann::json PlanMeasurement::to_json() const {
    nlohmann::json j = nlohmann::json::object();
    if (!window_nll.empty()) j["ppl"] = {{"nll", window_nll}, {"tokens", window_tokens}};
    if (!early_stop.empty())
        j["gen"] = {{"early_stop", early_stop}, {"repeat4", repeat4}, {"distinct2", distinct2}};
    if (!rubric_expected.empty())
        j["rubric"] = {{"expected", rubric_expected}, {"label_mass", rubric_mass}};
    if (!choice_acc.empty()) j["choice"] = {{"acc", choice_acc}, {"acc_norm", choice_acc_norm}};
    return j;
}

PlanMeasurement PlanMeasurement::from_json(const nlohmann::json& j) {
    PlanMeasurement m;
    if (j.contains("ppl")) {
        m.window_nll = j["ppl"].at("nll").get<std::vector<double>>();
        m.window_tokens = j["ppl"].at("tokens").get<std::vector<int64_t>>();
    }
    if (j.contains("gen")) {
        m.early_stop = j["gen"].at("early_stop").get<std::vector<double>>();
        m.repeat4 = j["gen"].at("repeat4").get<std::vector<double>>();
        m.distinct2 = j["gen"].at("distinct2").get<std::vector<double>>();
    }
    if (j.contains("rubric")) {
        m.rubric_expected = j["rubric"].at("expected").get<std::vector<double>>();
        m.rubric_mass = j["rubric"].at("label_mass").get<std::vector<double>>();
    }
    if (j.contains("choice")) {
        m.choice_acc = j["choice"].at("acc").get<std::vector<double>>();
        m.choice_acc_norm = j["choice"].at("acc_norm").get<std::vector<double>>();
    }
    return m;
}

}  // namespace encore
