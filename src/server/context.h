// ServerContext: what every endpoint handler shares — the model, one Engine per served model id,
// the scheduler, the metrics and the chat template — and the helpers the handlers have in common
// (model lookup, context checks, token pieces, response ids).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "engine/engine.h"
#include "score/rubric.h"
#include "server/metrics.h"
#include "server/scheduler.h"
#include "server/server.h"

namespace encore::server {

struct ServedModel {
    std::string id;
    std::unique_ptr<Engine> engine;
};

struct ServerContext {
    ServerOptions options;
    Metrics metrics;  // before the scheduler, which writes to it until it is destroyed
    std::shared_ptr<Model> model;
    std::vector<ServedModel> models;
    std::unique_ptr<Scheduler> scheduler;
    std::optional<ModelChat> chat;
    std::map<std::string, Rubric> rubrics;  // --rubric NAME=FILE
    std::atomic<bool> ready{false};
    std::atomic<bool> draining{false};

    // Index of the served model `id` ("" = the first); ApiError 404 model_not_found otherwise.
    size_t find_model(const std::string& id) const;
    const Tokenizer& tokenizer() const;
    int64_t context_length() const;
    // 400 when the prompt alone, or with max_tokens, does not fit the context.
    void check_fits(size_t n_prompt, int64_t max_tokens) const;
};

// Text of one token as the API shows it (special tokens by name).
std::string token_piece(const Tokenizer& tok, int32_t id);
// Number of Unicode characters in `s` (bytes that do not continue a UTF-8 sequence).
int64_t utf8_length(const std::string& s);
// "cmpl-<random hex>" and friends.
std::string make_response_id(const char* prefix);
int64_t unix_time();

}  // namespace encore::server
