// Multiple-choice scoring (see choose.h).
#include "score/choose.h"

#include "core/error.h"
#include "engine/sequence.h"
#include "score/label_tokens.h"
#include "score/scorer.h"

namespace encore {

ChoiceItem prepare_choice(const Tokenizer& tokenizer, const nlohmann::ordered_json& record,
                          int64_t record_number, int64_t max_position) {
    const std::string where = fmt::format("record {}", record_number);
    if (!record.is_object()) fail(ErrorKind::invalid_argument, "{}: expected a JSON object", where);
    if (record.empty()) fail(ErrorKind::invalid_argument, "{}: empty record", where);
    if (!record.contains("context") || !record["context"].is_string())
        fail(ErrorKind::invalid_argument, "{}: field 'context' must be a string", where);
    if (!record.contains("choices") || !record["choices"].is_array() ||
        record["choices"].size() < 2)
        fail(ErrorKind::invalid_argument,
             "{}: field 'choices' must be a list of at least 2 strings", where);
    ChoiceItem item;
    item.record = record_number;
    item.id = record.contains("id") ? record["id"] : nlohmann::ordered_json(record_number);
    if (!item.id.is_string() && !item.id.is_number_integer())
        fail(ErrorKind::invalid_argument, "{}: field 'id' must be a string or an integer", where);
    const std::string context = record["context"].get<std::string>();
    std::vector<int32_t> context_tokens;
    size_t longest = 0;
    const auto& choices = record["choices"];
    for (size_t i = 0; i < choices.size(); ++i) {
        if (!choices[i].is_string() || choices[i].get<std::string>().empty())
            fail(ErrorKind::invalid_argument, "{}: choices[{}] must be a non-empty string", where,
                 i);
        const std::string text = choices[i].get<std::string>();
        auto tokens = tokens_in_context(tokenizer, context, text, &context_tokens);
        if (!tokens)
            fail(ErrorKind::invalid_argument,
                 "{}: choices[{}] {} merges with the end of the context (its first token joins "
                 "the context's last)",
                 where, i, json_quoted(text));
        longest = std::max(longest, tokens->size());
        item.choices.push_back(std::move(*tokens));
        item.n_bytes.push_back(int64_t(text.size()));
    }
    item.context = tokenizer.prefix_ids();
    item.context.insert(item.context.end(), context_tokens.begin(), context_tokens.end());
    if (item.context.empty())
        fail(ErrorKind::invalid_argument, "{}: the context has no tokens (and there is no BOS)",
             where);
    if (max_position > 0 && int64_t(item.context.size() + longest) - 1 > max_position)
        fail(
            ErrorKind::invalid_argument,
            "{}: context and longest choice need {} positions, more than the model's context of {}",
            where, item.context.size() + longest - 1, max_position);
    if (record.contains("gold")) {
        const auto& g = record["gold"];
        if (!g.is_number_integer() || g.get<int64_t>() < 0 ||
            g.get<int64_t>() >= int64_t(choices.size()))
            fail(ErrorKind::invalid_argument, "{}: field 'gold' must be a choice index 0-{}", where,
                 choices.size() - 1);
        item.gold = g.get<int64_t>();
    }
    return item;
}

std::vector<ChoiceResult> choose_batch(Engine& engine, std::span<const ChoiceItem> items) {
    const size_t n = items.size();
    std::vector<std::unique_ptr<Sequence>> contexts;
    std::vector<EvalItem> batch;
    for (const ChoiceItem& item : items) {
        contexts.push_back(std::make_unique<Sequence>(engine));
        batch.push_back({contexts.back().get(), item.context, Logits::last});
    }
    engine.eval(batch);
    std::vector<ChoiceResult> out(n);
    std::vector<std::unique_ptr<Sequence>> forks;
    std::vector<std::pair<size_t, size_t>> owners;
    batch.clear();
    for (size_t i = 0; i < n; ++i) {
        const ChoiceItem& item = items[i];
        out[i].id = item.id;
        out[i].gold = item.gold;
        out[i].n_bytes = item.n_bytes;
        const std::span<const float> row = contexts[i]->last_logits();  // [vocab]
        const double lse = row_log_sum_exp(row);
        for (size_t c = 0; c < item.choices.size(); ++c) {
            const std::vector<int32_t>& t = item.choices[c];
            out[i].logliks.push_back(double(row[size_t(t[0])]) - lse);
            out[i].n_tokens.push_back(int64_t(t.size()));
            if (t.size() < 2) continue;
            forks.push_back(contexts[i]->fork());
            owners.emplace_back(i, c);
            batch.push_back({forks.back().get(), std::span(t).first(t.size() - 1), Logits::all});
        }
    }
    if (!batch.empty()) engine.eval(batch);
    for (size_t k = 0; k < owners.size(); ++k) {
        const auto [i, c] = owners[k];
        const std::vector<int32_t>& t = items[i].choices[c];
        const std::span<const float> rows = forks[k]->logits();  // [len - 1, vocab]
        const size_t vocab = rows.size() / (t.size() - 1);
        for (size_t j = 1; j < t.size(); ++j) {
            const auto row = rows.subspan((j - 1) * vocab, vocab);
            out[i].logliks[c] += double(row[size_t(t[j])]) - row_log_sum_exp(row);
        }
    }
    for (ChoiceResult& r : out) {
        for (size_t c = 1; c < r.logliks.size(); ++c) {
            if (r.logliks[c] > r.logliks[size_t(r.argmax)]) r.argmax = int64_t(c);
            if (r.logliks[c] / double(r.n_bytes[c]) >
                r.logliks[size_t(r.argmax_norm)] / double(r.n_bytes[size_t(r.argmax_norm)]))
                r.argmax_norm = int64_t(c);
        }
    }
    return out;
}

nlohmann::ordered_json choice_result_json(const ChoiceResult& r, const std::string& hash) {
    nlohmann::ordered_json j = {{"id", r.id},
                                {"hash", hash},
                                {"logliks", r.logliks},
                                {"n_tokens", r.n_tokens},
                                {"n_bytes", r.n_bytes},
                                {"argmax", r.argmax},
                                {"argmax_norm", r.argmax_norm}};
    if (r.gold) {
        j["gold"] = *r.gold;
        j["correct"] = r.argmax == *r.gold;
        j["correct_norm"] = r.argmax_norm == *r.gold;
    }
    return j;
}

}  // namespace encore
