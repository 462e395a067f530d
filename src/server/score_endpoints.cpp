// The scoring endpoints (see score_endpoints.h). Requests:
//   POST /v1/score  {"model"?, "rubric": NAME | {rubric object, as a rubric file holds it},
//                    "items": [record, ...], "batch_size"?}
//   -> {"object": "score.list", "model", "rubric_hash", "data": [one `encore score` JSON line
//       per item, in order]}
//   POST /v1/choose {"model"?, "records": [{"id"?, "context", "choices", "gold"?}, ...]}
//   -> {"object": "choose.list", "model", "hash", "data": [one `encore choose` JSON line per
//       record], "acc", "acc_norm"}
// Records are checked before anything is computed; a bad one is a 400 naming its number.
#include "server/score_endpoints.h"

#include "core/error.h"
#include "score/choose.h"
#include "score/score_output.h"
#include "score/scorer.h"
#include "server/api_error.h"
#include "server/context.h"
#include "server/request.h"
#include "tokenizer/tokenizer.h"

namespace encore::server {

using nlohmann::json;
using nlohmann::ordered_json;

namespace {

constexpr size_t k_max_records = 10000;

// The list of records under `name` (each a JSON object), as ordered JSON.
std::vector<ordered_json> records_field(const std::string& body, const char* name) {
    const ordered_json j = ordered_json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        throw ApiError(400, "the request body is not a JSON object", "", "invalid_json");
    const auto it = j.find(name);
    if (it == j.end() || !it->is_array() || it->empty())
        throw ApiError(400, fmt::format("'{}' must be a non-empty list of records", name), name);
    if (it->size() > k_max_records)
        throw ApiError(400, fmt::format("at most {} records per request", k_max_records), name);
    std::vector<ordered_json> out;
    for (const auto& r : *it) {
        if (!r.is_object())
            throw ApiError(400, fmt::format("'{}' must hold JSON objects", name), name);
        out.push_back(r);
    }
    return out;
}

Rubric request_rubric(const ServerContext& ctx, const json& body) {
    if (!body.contains("rubric") || body["rubric"].is_null())
        throw ApiError(400, "'rubric' is required (a name given with --rubric, or a rubric object)",
                       "rubric");
    const json& r = body["rubric"];
    if (r.is_string()) {
        const auto it = ctx.rubrics.find(r.get<std::string>());
        if (it == ctx.rubrics.end())
            throw ApiError(400,
                           fmt::format("no rubric named '{}' was loaded (--rubric NAME=FILE)",
                                       r.get<std::string>()),
                           "rubric", "rubric_not_found");
        return it->second;
    }
    if (!r.is_object())
        throw ApiError(400, "'rubric' must be a rubric name or a rubric object", "rubric");
    try {
        return Rubric::from_string(r.dump(), "rubric");
    } catch (const Error& e) {
        throw ApiError(400, e.what(), "rubric");
    }
}

}  // namespace

void load_rubrics(ServerContext& ctx) {
    for (const auto& [name, file] : ctx.options.rubrics) {
        if (ctx.rubrics.count(name))
            fail(ErrorKind::invalid_argument, "--rubric: the name '{}' is given twice", name);
        ctx.rubrics.emplace(name, Rubric::from_file(file));
    }
}

void handle_score(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    const json body = parse_body(req.body);
    const size_t e = ctx.find_model(string_field(body, "model", ""));
    const Rubric rubric = request_rubric(ctx, body);
    if (rubric.chat && !ctx.chat)
        throw ApiError(400, "a chat rubric needs a chat template (--chat-template FILE)", "rubric",
                       "no_chat_template");
    const std::vector<ordered_json> records = records_field(req.body, "items");
    ScorerOptions options;
    options.batch_size = int_field(body, "batch_size", 32, 1, 4096);
    ordered_json data = ordered_json::array();
    std::string hash;
    ctx.scheduler->run_exclusive([&] {
        Scorer scorer(*ctx.models[e].engine, rubric, ctx.tokenizer(),
                      ctx.chat ? &*ctx.chat : nullptr, options);
        hash = scorer.hash();
        std::vector<PreparedItem> items;
        for (size_t i = 0; i < records.size(); ++i) {
            try {
                items.push_back(scorer.prepare(records[i], int64_t(i + 1)));
            } catch (const Error& err) {
                throw ApiError(400, fmt::format("items: {}", err.what()), "items");
            }
        }
        size_t next = 0;
        scorer.score_stream(
            [&]() -> std::optional<PreparedItem> {
                if (next == items.size()) return std::nullopt;
                return items[next++];
            },
            [&](std::vector<ItemResult>& results) {
                for (const ItemResult& r : results)
                    data.push_back(ordered_json::parse(result_json_line(scorer, r)));
            });
    });
    const ordered_json out = {{"object", "score.list"},
                              {"model", ctx.models[e].id},
                              {"rubric_hash", hash},
                              {"data", data}};
    res.set_content(out.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void handle_choose(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    const json body = parse_body(req.body);
    const size_t e = ctx.find_model(string_field(body, "model", ""));
    const std::vector<ordered_json> records = records_field(req.body, "records");
    const int64_t batch = int_field(body, "batch_size", 16, 1, 4096);
    Engine& engine = *ctx.models[e].engine;
    const std::string hash =
        hash_hex("choose|" + ctx.model->identity() + "|" + engine.plan().to_spec());
    std::vector<ChoiceItem> items;
    for (size_t i = 0; i < records.size(); ++i) {
        try {
            items.push_back(
                prepare_choice(ctx.tokenizer(), records[i], int64_t(i + 1), ctx.context_length()));
        } catch (const Error& err) {
            throw ApiError(400, fmt::format("records: {}", err.what()), "records");
        }
    }
    ordered_json data = ordered_json::array();
    int64_t n_gold = 0, correct = 0, correct_norm = 0;
    ctx.scheduler->run_exclusive([&] {
        for (size_t b = 0; b < items.size(); b += size_t(batch)) {
            const size_t end = std::min(items.size(), b + size_t(batch));
            for (const ChoiceResult& r :
                 choose_batch(engine, std::span(items).subspan(b, end - b))) {
                ordered_json j = choice_result_json(r, hash);
                if (j.contains("gold")) {
                    ++n_gold;
                    correct += j.value("correct", false) ? 1 : 0;
                    correct_norm += j.value("correct_norm", false) ? 1 : 0;
                }
                data.push_back(std::move(j));
            }
        }
    });
    ordered_json out = {
        {"object", "choose.list"}, {"model", ctx.models[e].id}, {"hash", hash}, {"data", data}};
    out["acc"] = n_gold ? ordered_json(double(correct) / double(n_gold)) : ordered_json(nullptr);
    out["acc_norm"] =
        n_gold ? ordered_json(double(correct_norm) / double(n_gold)) : ordered_json(nullptr);
    res.set_content(out.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

}  // namespace encore::server
