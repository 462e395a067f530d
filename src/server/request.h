// Request bodies of the OpenAI endpoints, parsed and validated into plain structs. Every field
// is checked for type and range before any work starts; a bad one is an ApiError (400) naming
// the field (`param`). Fields the server does not know are ignored; known ones it does not
// implement (logit_bias, penalties, suffix) are refused unless they are at their neutral value.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "server/job.h"

namespace encore::server {

// Parses a request body as a JSON object (400 invalid_json / not an object otherwise).
nlohmann::json parse_body(const std::string& body);

// One prompt of a completion request: its token ids, and for a string prompt its text.
struct Prompt {
    std::vector<int32_t> ids;
    bool is_text = false;
    std::string text;
};

// The sampling and stopping fields shared by completions and chat.
struct SamplingFields {
    JobParams params;
    int n = 1;
    bool stream = false;
    bool include_usage = false;  // stream_options.include_usage
    bool max_tokens_given = false;
};

struct CompletionRequest {
    std::string model;            // "" when absent
    std::vector<Prompt> prompts;  // token ids filled in by the caller for text prompts
    SamplingFields sampling;
    bool echo = false;
    int logprobs = -1;  // -1: none
};

struct ChatRequest {
    std::string model;
    nlohmann::json messages;  // validated: [{role, content: string or text parts}]
    SamplingFields sampling;
    bool logprobs = false;
    int top_logprobs = 0;
};

CompletionRequest parse_completion_request(const nlohmann::json& body);
ChatRequest parse_chat_request(const nlohmann::json& body);

// Field helpers (also for the other endpoints): absent or null gives `fallback`.
std::string string_field(const nlohmann::json& body, const char* name, const std::string& fallback);
bool bool_field(const nlohmann::json& body, const char* name, bool fallback);
int64_t int_field(const nlohmann::json& body, const char* name, int64_t fallback, int64_t lo,
                  int64_t hi);
double number_field(const nlohmann::json& body, const char* name, double fallback, double lo,
                    double hi);
// A list of token ids (each an integer in [0, INT32_MAX]); 400 naming `name` otherwise.
std::vector<int32_t> token_list(const nlohmann::json& value, const char* name);

}  // namespace encore::server
