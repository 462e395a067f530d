// Rubric compilation and batched scoring (see scorer.h).
#include "score/scorer.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "engine/sampler.h"
#include "score/label_tokens.h"

namespace encore {

namespace {

using Json = nlohmann::ordered_json;

// The template with each slot filled by its own name: a stand-in item for load-time checks.
std::string sample_item(const std::string& tmpl, const std::string& where) {
    Json record = Json::object();
    for (const std::string& slot : template_slots(tmpl, where)) record[slot] = slot;
    return fill_template(tmpl, record, where);
}

size_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
    size_t n = 0;
    while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
    return n;
}

// A rationale's stand-in end, before `then`, for tokenizing `then` and the labels after it.
constexpr const char* k_sample_rationale = "It is fine";

// Scores computed over an f16 / bf16 KV cache, or at --precision fast, are other numbers: the KV
// type and the precision join the hash (the defaults add nothing, so their hashes are unchanged).
std::string engine_key(const Engine& engine) {
    std::string key;
    if (engine.kv_type() != DType::f32) key += "|kv " + std::string(dtype_name(engine.kv_type()));
    if (engine.precision() != Precision::standard)
        key += "|precision " + std::string(precision_name(engine.precision()));
    return key;
}

}  // namespace

double row_log_sum_exp(std::span<const float> logits) {
    double top = -INFINITY;
    for (float x : logits) top = std::max(top, double(x));
    double sum = 0;
    for (float x : logits) sum += std::exp(double(x) - top);
    return top + std::log(sum);
}

std::vector<CompiledCriterion> compile_rubric(const Rubric& rubric, const Tokenizer& tokenizer,
                                              const ModelChat* chat) {
    std::vector<CompiledCriterion> out;
    for (size_t ci = 0; ci < rubric.criteria.size(); ++ci) {
        const CriterionDef& def = rubric.criteria[ci];
        const std::string where = rubric.criteria.size() > 1
                                      ? fmt::format("{}: criterion '{}'", rubric.name, def.name)
                                      : rubric.name;
        CompiledCriterion c;
        c.name = def.name;
        c.item_template = def.item_template;
        if (rubric.chat) {
            if (!chat)
                fail(ErrorKind::invalid_argument,
                     "{}: chat: true but the model has no chat template", rubric.name);
            // Where the item goes: plain text (a template's trim would strip control characters).
            const std::string mark = "@@encore-item-7f3a@@";
            const nlohmann::json conversation =
                nlohmann::json::array({{{"role", "user"}, {"content", def.prefix + mark}}});
            ChatOptions options;
            options.add_generation_prompt = true;
            options.bos_token = chat->bos_token;
            options.eos_token = chat->eos_token;
            const std::string rendered = render_chat(chat->tmpl, conversation, options);
            const size_t at = rendered.find(mark);
            if (at == std::string::npos || rendered.find(mark, at + 1) != std::string::npos)
                fail(ErrorKind::unsupported,
                     "{}: the chat template {} does not keep the user's text as it is", rubric.name,
                     chat->tmpl.origin);
            c.head = rendered.substr(0, at);
            c.tail = rendered.substr(at + mark.size()) + def.cue;
        } else {
            c.head = def.prefix;
            c.tail = def.cue;
            c.lead_tokens = tokenizer.prefix_ids();
        }
        c.prefix_tokens = c.lead_tokens;
        const std::vector<int32_t> head_tokens = tokenizer.encode(c.head, false);
        c.prefix_tokens.insert(c.prefix_tokens.end(), head_tokens.begin(), head_tokens.end());

        std::string label_context = sample_item(c.item_template, where) + c.tail;
        std::string context_name = "cue " + json_quoted(def.cue);
        if (rubric.reason) {
            const auto then = tokens_in_context(tokenizer, k_sample_rationale, rubric.reason->then);
            if (!rubric.reason->then.empty()) {
                if (!then)
                    fail(ErrorKind::invalid_argument,
                         "{}: reason.then {} merges with the end of a rationale", where,
                         json_quoted(rubric.reason->then));
                c.then_tokens = *then;
            }
            label_context = k_sample_rationale + rubric.reason->then;
            context_name = "reason.then " + json_quoted(rubric.reason->then);
        }
        std::vector<std::string> texts;
        std::vector<std::vector<int32_t>> token_lists;
        for (const LabelDef& l : def.labels) {
            auto tokens = tokens_in_context(tokenizer, label_context, l.text);
            if (!tokens)
                fail(ErrorKind::invalid_argument,
                     "{}: label {} merges with the {}: its first token joins the context's last, "
                     "so the context's tokens are not a prefix",
                     where, json_quoted(l.text), context_name);
            c.labels.push_back({l.text, l.value, *tokens});
            texts.push_back(json_quoted(l.text));
            token_lists.push_back(*tokens);
        }
        check_label_collisions(texts, token_lists, where);
        out.push_back(std::move(c));
    }
    return out;
}

Scorer::Scorer(Engine& engine, const Rubric& rubric, const Tokenizer& tokenizer,
               const ModelChat* chat, ScorerOptions options)
    : engine_(engine),
      tokenizer_(tokenizer),
      criteria_(compile_rubric(rubric, tokenizer, chat)),
      reason_(rubric.reason),
      options_(options),
      from_text_(true) {
    hash_ = hash_hex(rubric.canonical + "|" + engine.model().identity() + "|" +
                     engine.plan().to_spec() + engine_key(engine));
    if (rubric.calibrate) {  // checked now, scored before the first item
        try {
            calibration_item_ = prepare(*rubric.calibrate, 0);
        } catch (const Error& e) {
            fail(e.kind(), "{}: calibrate: {}", rubric.name, e.what());
        }
        calibrated_ = true;
    }
}

Scorer::Scorer(Engine& engine, std::vector<CompiledCriterion> criteria, ScorerOptions options)
    : engine_(engine), criteria_(std::move(criteria)), options_(options) {
    std::string key =
        engine.model().identity() + "|" + engine.plan().to_spec() + engine_key(engine);
    for (const CompiledCriterion& c : criteria_) {
        key += "|" + c.name + ":" + format_ids(c.prefix_tokens);
        for (const CompiledLabel& l : c.labels) key += format_ids(l.tokens);
    }
    hash_ = hash_hex(key);
}

Scorer::~Scorer() = default;

void Scorer::start() {
    if (!bases_.empty()) return;
    if (criteria_.empty()) fail(ErrorKind::invalid_argument, "scorer: no criteria");
    if (options_.batch_size < 1) fail(ErrorKind::invalid_argument, "scorer: batch size < 1");
    for (const CompiledCriterion& c : criteria_) {
        if (c.labels.empty()) fail(ErrorKind::invalid_argument, "scorer: criterion without labels");
        auto base = std::make_unique<Sequence>(engine_);
        base->prefill(c.prefix_tokens, Logits::none);
        bases_.push_back(std::move(base));
    }
    if (calibration_item_) {
        const PreparedItem cf = std::move(*calibration_item_);
        calibration_item_.reset();
        const std::vector<ItemResult> r = score_batch(std::span(&cf, 1));
        for (size_t c = 0; c < criteria_.size(); ++c)
            criteria_[c].cf_probs = r[0].scores[c].raw.probs;
    }
}

PreparedItem Scorer::prepare(const Json& record, int64_t record_number) const {
    if (!from_text_)
        fail(ErrorKind::invalid_argument, "scorer: prepare() needs a scorer made from a rubric");
    const std::string where =
        record_number > 0 ? fmt::format("record {}", record_number) : std::string("record");
    if (!record.is_object()) fail(ErrorKind::invalid_argument, "{}: expected a JSON object", where);
    if (record.empty()) fail(ErrorKind::invalid_argument, "{}: empty record", where);
    PreparedItem item;
    item.record = record_number;
    item.id = record.contains("id") ? record["id"] : Json(record_number);
    if (!item.id.is_string() && !item.id.is_number_integer())
        fail(ErrorKind::invalid_argument, "{}: field 'id' must be a string or an integer", where);
    const int64_t context = engine_.spec().max_position;
    for (const CompiledCriterion& c : criteria_) {
        const std::string cwhere =
            criteria_.size() > 1 ? fmt::format("{} (criterion '{}')", where, c.name) : where;
        const std::string text = fill_template(c.item_template, record, cwhere) + c.tail;
        const auto [kept, moved] = split_trailing_whitespace(text);
        std::vector<int32_t> tokens = c.lead_tokens;
        const std::vector<int32_t> body = tokenizer_.encode(c.head + kept, false);
        tokens.insert(tokens.end(), body.begin(), body.end());
        if (!reason_)  // the labels follow this item's text: they must tokenize as after the cue
            for (const CompiledLabel& l : c.labels) {
                const auto in_item = tokens_in_context(tokenizer_, text, l.text);
                if (!in_item || *in_item != l.tokens)
                    fail(ErrorKind::invalid_argument,
                         "{}: label {} merges with the end of the item's text (its tokens there "
                         "are not {})",
                         cwhere, json_quoted(l.text), format_ids(l.tokens));
            }
        size_t longest_label = 0;
        for (const CompiledLabel& l : c.labels)
            longest_label = std::max(longest_label, l.tokens.size());
        int64_t need = int64_t(tokens.size() + longest_label) - 1;
        if (reason_) need += reason_->max_tokens + int64_t(c.then_tokens.size()) + 1;
        if (context > 0 && need > context)
            fail(ErrorKind::invalid_argument,
                 "{}: the item needs {} positions with its prompt and labels{}, more than the "
                 "model's context of {}",
                 cwhere, need, reason_ ? " and rationale" : "", context);
        item.tokens.push_back(std::move(tokens));
    }
    return item;
}

ItemResult Scorer::score(const PreparedItem& item) {
    return std::move(score_batch(std::span(&item, 1))[0]);
}

std::vector<ItemResult> Scorer::score_batch(std::span<const PreparedItem> items) {
    start();
    std::vector<ItemResult> out(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
        if (items[i].tokens.size() != criteria_.size())
            fail(ErrorKind::invalid_argument, "scorer: item has {} prompts for {} criteria",
                 items[i].tokens.size(), criteria_.size());
        out[i].id = items[i].id;
        out[i].scores.resize(criteria_.size());
    }
    try {
        for (size_t c = 0; c < criteria_.size(); ++c) score_criterion(c, items, out);
    } catch (const Error& e) {
        // Too many forks for the KV pool: the same work in halves (results do not depend on
        // the batch).
        if (e.kind() != ErrorKind::out_of_memory || items.size() < 2) throw;
        const size_t half = items.size() / 2;
        std::vector<ItemResult> a = score_batch(items.first(half));
        std::vector<ItemResult> b = score_batch(items.subspan(half));
        a.insert(a.end(), std::make_move_iterator(b.begin()), std::make_move_iterator(b.end()));
        return a;
    }
    return out;
}

void Scorer::score_criterion(size_t c, std::span<const PreparedItem> items,
                             std::vector<ItemResult>& out) {
    const CompiledCriterion& crit = criteria_[c];
    Sequence& base = *bases_[c];
    const size_t n = items.size();

    // Each item: a fork of the prefix, cut back to what its tokens share with it.
    std::vector<std::unique_ptr<Sequence>> forks(n);
    std::vector<EvalItem> batch;
    for (size_t i = 0; i < n; ++i) {
        const std::vector<int32_t>& tokens = items[i].tokens[c];
        if (tokens.empty()) fail(ErrorKind::invalid_argument, "scorer: empty prompt");
        const size_t shared =
            std::min(common_prefix(tokens, crit.prefix_tokens), tokens.size() - 1);
        forks[i] = base.fork();
        if (int64_t(shared) < forks[i]->size()) forks[i]->truncate(int64_t(shared));
        batch.push_back({forks[i].get(), std::span(tokens).subspan(shared), Logits::last});
    }
    engine_.eval(batch);

    // The rationale: all items decode together, one token per eval, then `then` is appended.
    if (reason_) {
        std::vector<Sampler> samplers;
        SamplerOptions so;
        so.temperature = reason_->temperature;
        so.top_k = 0;
        so.top_p = 1;
        so.min_p = 0;
        so.seed = reason_->seed;
        for (size_t i = 0; i < n; ++i) samplers.emplace_back(so);
        const std::vector<int32_t> eos = tokenizer_.eos_ids();
        std::vector<std::vector<int32_t>> generated(n);
        std::vector<int32_t> next(n);
        std::vector<bool> active(n, true);
        for (int64_t step = 0; step < reason_->max_tokens; ++step) {
            batch.clear();
            for (size_t i = 0; i < n; ++i) {
                if (!active[i]) continue;
                next[i] = samplers[i].sample(forks[i]->last_logits());
                if (std::find(eos.begin(), eos.end(), next[i]) != eos.end()) {
                    active[i] = false;
                    continue;
                }
                generated[i].push_back(next[i]);
                batch.push_back({forks[i].get(), std::span(&next[i], 1), Logits::last});
            }
            if (batch.empty()) break;
            engine_.eval(batch);
        }
        if (!crit.then_tokens.empty()) {
            batch.clear();
            for (size_t i = 0; i < n; ++i)
                batch.push_back({forks[i].get(), crit.then_tokens, Logits::last});
            engine_.eval(batch);
        }
        for (size_t i = 0; i < n; ++i)
            out[i].scores[c].reason = tokenizer_.decode(generated[i], true);
    }

    // First tokens from each item's last row; later tokens of longer labels from a second fork.
    std::vector<std::vector<double>> logprobs(n, std::vector<double>(crit.labels.size()));
    for (size_t i = 0; i < n; ++i) {
        const std::span<const float> row = forks[i]->last_logits();  // [vocab]
        const double lse = row_log_sum_exp(row);
        for (size_t l = 0; l < crit.labels.size(); ++l)
            logprobs[i][l] = double(row[size_t(crit.labels[l].tokens[0])]) - lse;
    }
    std::vector<std::unique_ptr<Sequence>> label_forks;
    std::vector<std::pair<size_t, size_t>> owners;  // (item, label)
    batch.clear();
    for (size_t i = 0; i < n; ++i)
        for (size_t l = 0; l < crit.labels.size(); ++l) {
            const std::vector<int32_t>& t = crit.labels[l].tokens;
            if (t.size() < 2) continue;
            label_forks.push_back(forks[i]->fork());
            owners.emplace_back(i, l);
            batch.push_back(
                {label_forks.back().get(), std::span(t).first(t.size() - 1), Logits::all});
        }
    if (!batch.empty()) engine_.eval(batch);
    for (size_t k = 0; k < owners.size(); ++k) {
        const auto [i, l] = owners[k];
        const std::vector<int32_t>& t = crit.labels[l].tokens;
        const std::span<const float> rows = label_forks[k]->logits();  // [n - 1, vocab]
        const size_t vocab = rows.size() / (t.size() - 1);
        for (size_t j = 1; j < t.size(); ++j) {
            const auto row = rows.subspan((j - 1) * vocab, vocab);
            logprobs[i][l] += double(row[size_t(t[j])]) - row_log_sum_exp(row);
        }
    }

    std::vector<double> values;
    for (const CompiledLabel& l : crit.labels) values.push_back(l.value);
    for (size_t i = 0; i < n; ++i) {
        CriterionScore& s = out[i].scores[c];
        s.raw = label_distribution(logprobs[i], values);
        if (!crit.cf_probs.empty())
            s.calibrated = calibrated_distribution(s.raw, crit.cf_probs, values);
    }
}

void Scorer::score_stream(const std::function<std::optional<PreparedItem>()>& next,
                          const std::function<void(std::vector<ItemResult>&)>& on_batch) {
    std::vector<PreparedItem> batch;
    bool more = true;
    while (more) {
        batch.clear();
        while (int64_t(batch.size()) < options_.batch_size) {
            std::optional<PreparedItem> item = next();
            if (!item) {
                more = false;
                break;
            }
            batch.push_back(std::move(*item));
        }
        if (batch.empty()) break;
        std::vector<ItemResult> results = score_batch(batch);
        on_batch(results);
    }
}

std::vector<double> naive_label_logprobs(Engine& engine, std::span<const int32_t> prompt,
                                         const std::vector<CompiledLabel>& labels) {
    std::vector<double> logprobs(labels.size());
    {
        Sequence seq(engine);
        seq.prefill(prompt, Logits::last);
        const std::span<const float> row = seq.last_logits();  // [vocab]
        const double lse = row_log_sum_exp(row);
        for (size_t l = 0; l < labels.size(); ++l)
            logprobs[l] = double(row[size_t(labels[l].tokens[0])]) - lse;
    }
    for (size_t l = 0; l < labels.size(); ++l) {
        const std::vector<int32_t>& t = labels[l].tokens;
        if (t.size() < 2) continue;
        std::vector<int32_t> all(prompt.begin(), prompt.end());
        all.insert(all.end(), t.begin(), t.end() - 1);
        Sequence seq(engine);
        seq.prefill(all, Logits::all);
        for (size_t j = 1; j < t.size(); ++j) {
            const auto row = seq.logits_at(int64_t(prompt.size() + j - 1));  // [vocab]
            logprobs[l] += double(row[size_t(t[j])]) - row_log_sum_exp(row);
        }
    }
    return logprobs;
}

}  // namespace encore
