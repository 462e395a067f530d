// Parsing and validation of request bodies (see request.h).
#include "server/request.h"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "server/api_error.h"

namespace encore::server {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const char* param, const std::string& message) {
    throw ApiError(400, message, param, "invalid_value");
}

bool present(const json& body, const char* name) {
    const auto it = body.find(name);
    return it != body.end() && !it->is_null();
}

std::vector<std::string> stop_field(const json& body) {
    std::vector<std::string> stop;
    if (!present(body, "stop")) return stop;
    const json& v = body["stop"];
    if (v.is_string()) {
        stop.push_back(v.get<std::string>());
    } else if (v.is_array()) {
        if (v.size() > 16) bad("stop", "'stop' may hold at most 16 strings");
        for (const json& s : v) {
            if (!s.is_string()) bad("stop", "'stop' must be a string or a list of strings");
            stop.push_back(s.get<std::string>());
        }
    } else {
        bad("stop", "'stop' must be a string or a list of strings");
    }
    for (const auto& s : stop)
        if (s.empty()) bad("stop", "'stop' strings must not be empty");
    return stop;
}

// Fields that encore does not implement: accepted only at their neutral value.
void refuse_unsupported(const json& body) {
    for (const char* name : {"presence_penalty", "frequency_penalty", "repetition_penalty"}) {
        if (!present(body, name)) continue;
        const double v = number_field(body, name, 0, -1e9, 1e9);
        if (v != (std::string(name) == "repetition_penalty" ? 1.0 : 0.0))
            bad(name, fmt::format("'{}' is not supported by this server", name));
    }
    if (present(body, "logit_bias") &&
        !(body["logit_bias"].is_object() && body["logit_bias"].empty()))
        bad("logit_bias", "'logit_bias' is not supported by this server");
    if (present(body, "suffix")) bad("suffix", "'suffix' is not supported by this server");
    if (present(body, "tools") && !(body["tools"].is_array() && body["tools"].empty()))
        bad("tools", "'tools' is not supported by this server");
}

SamplingFields sampling_fields(const json& body, const char* max_tokens_name) {
    SamplingFields f;
    refuse_unsupported(body);
    JobParams& p = f.params;
    // OpenAI's defaults: temperature 1, top_p 1; top_k and min_p off.
    p.sampling.temperature = float(number_field(body, "temperature", 1.0, 0.0, 2.0));
    p.sampling.top_p = float(number_field(body, "top_p", 1.0, 0.0, 1.0));
    if (p.sampling.top_p == 0.0f) bad("top_p", "'top_p' must be in (0, 1]");
    const int64_t top_k = int_field(body, "top_k", 0, -1, INT32_MAX);
    p.sampling.top_k = int(std::max<int64_t>(top_k, 0));  // -1 (vLLM) = off
    p.sampling.min_p = float(number_field(body, "min_p", 0.0, 0.0, 1.0));
    if (present(body, "seed")) {
        p.sampling.seed = uint64_t(int_field(body, "seed", 0, INT64_MIN, INT64_MAX));
    } else {
        p.sampling.seed = std::random_device{}();
    }
    f.max_tokens_given = present(body, max_tokens_name);
    p.max_tokens = int_field(body, max_tokens_name, 16, 0, INT32_MAX);
    p.stop = stop_field(body);
    p.stop_at_eos = !bool_field(body, "ignore_eos", false);
    f.n = int(int_field(body, "n", 1, 1, 16));
    if (present(body, "best_of") && int_field(body, "best_of", 1, 1, 16) != f.n)
        bad("best_of", "'best_of' other than n is not supported by this server");
    f.stream = bool_field(body, "stream", false);
    if (present(body, "stream_options")) {
        const json& so = body["stream_options"];
        if (!so.is_object()) bad("stream_options", "'stream_options' must be an object");
        f.include_usage = bool_field(so, "include_usage", false);
    }
    return f;
}

}  // namespace

json parse_body(const std::string& body) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded())
        throw ApiError(400, "the request body is not valid JSON", "", "invalid_json");
    if (!j.is_object())
        throw ApiError(400, "the request body must be a JSON object", "", "invalid_json");
    return j;
}

std::string string_field(const json& body, const char* name, const std::string& fallback) {
    if (!present(body, name)) return fallback;
    if (!body[name].is_string()) bad(name, fmt::format("'{}' must be a string", name));
    return body[name].get<std::string>();
}

bool bool_field(const json& body, const char* name, bool fallback) {
    if (!present(body, name)) return fallback;
    if (!body[name].is_boolean()) bad(name, fmt::format("'{}' must be true or false", name));
    return body[name].get<bool>();
}

int64_t int_field(const json& body, const char* name, int64_t fallback, int64_t lo, int64_t hi) {
    if (!present(body, name)) return fallback;
    const json& v = body[name];
    int64_t x = 0;
    if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        if (u > uint64_t(INT64_MAX)) bad(name, fmt::format("'{}' is out of range", name));
        x = int64_t(u);
    } else if (v.is_number_integer()) {
        x = v.get<int64_t>();
    } else if (v.is_number_float() && std::isfinite(v.get<double>()) &&
               v.get<double>() == std::floor(v.get<double>()) && std::abs(v.get<double>()) < 9e15) {
        x = int64_t(v.get<double>());
    } else {
        bad(name, fmt::format("'{}' must be an integer", name));
    }
    if (x < lo || x > hi)
        bad(name, fmt::format("'{}' must be between {} and {}, got {}", name, lo, hi, x));
    return x;
}

double number_field(const json& body, const char* name, double fallback, double lo, double hi) {
    if (!present(body, name)) return fallback;
    const json& v = body[name];
    if (!v.is_number()) bad(name, fmt::format("'{}' must be a number", name));
    const double x = v.get<double>();
    if (!std::isfinite(x) || x < lo || x > hi)
        bad(name, fmt::format("'{}' must be between {} and {}", name, lo, hi));
    return x;
}

std::vector<int32_t> token_list(const json& value, const char* name) {
    if (!value.is_array()) bad(name, fmt::format("'{}' must be a list of token ids", name));
    std::vector<int32_t> ids;
    ids.reserve(value.size());
    for (const json& t : value) {
        if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX)
            bad(name, fmt::format("'{}' must hold token ids (integers >= 0)", name));
        ids.push_back(int32_t(t.get<int64_t>()));
    }
    return ids;
}

CompletionRequest parse_completion_request(const json& body) {
    CompletionRequest r;
    r.model = string_field(body, "model", "");
    if (!present(body, "prompt")) bad("prompt", "'prompt' is required");
    const json& p = body["prompt"];
    auto text_prompt = [](const json& s) {
        Prompt pr;
        pr.is_text = true;
        pr.text = s.get<std::string>();
        return pr;
    };
    auto ids_prompt = [](const json& a) {
        Prompt pr;
        pr.ids = token_list(a, "prompt");
        if (pr.ids.empty()) bad("prompt", "a token-id prompt must not be empty");
        return pr;
    };
    if (p.is_string()) {
        r.prompts.push_back(text_prompt(p));
    } else if (p.is_array() && !p.empty() && p[0].is_number()) {
        r.prompts.push_back(ids_prompt(p));
    } else if (p.is_array() && !p.empty()) {
        for (const json& item : p) {
            if (item.is_string())
                r.prompts.push_back(text_prompt(item));
            else if (item.is_array())
                r.prompts.push_back(ids_prompt(item));
            else
                bad("prompt", "'prompt' list items must be strings or lists of token ids");
        }
    } else {
        bad("prompt",
            "'prompt' must be a string, a list of token ids, or a non-empty list of either");
    }
    if (r.prompts.size() > 64) bad("prompt", "at most 64 prompts per request");
    r.sampling = sampling_fields(body, "max_tokens");
    r.echo = bool_field(body, "echo", false);
    r.logprobs = int(int_field(body, "logprobs", -1, 0, k_max_top_logprobs));
    if (present(body, "logprobs") && body["logprobs"].is_boolean())
        bad("logprobs", "'logprobs' of /v1/completions is an integer (alternatives per token)");
    if (r.prompts.size() * size_t(r.sampling.n) > 64)
        bad("n", "at most 64 choices (prompts times n) per request");
    r.sampling.params.logprobs = r.logprobs;
    r.sampling.params.prompt_logprobs = r.echo && r.logprobs >= 0;
    r.sampling.params.prompt_top = std::max(r.logprobs, 0);
    return r;
}

ChatRequest parse_chat_request(const json& body) {
    ChatRequest r;
    r.model = string_field(body, "model", "");
    if (!present(body, "messages")) bad("messages", "'messages' is required");
    const json& m = body["messages"];
    if (!m.is_array() || m.empty()) bad("messages", "'messages' must be a non-empty list");
    r.messages = json::array();
    for (const json& msg : m) {
        if (!msg.is_object() || !msg.contains("role") || !msg["role"].is_string())
            bad("messages", "each message must be an object with a string 'role'");
        json out = msg;
        const json content = msg.value("content", json());
        if (content.is_array()) {  // [{type: "text", text}] parts joined
            std::string text;
            for (const json& part : content) {
                if (!part.is_object() || part.value("type", json()) != "text" ||
                    !part.contains("text") || !part["text"].is_string())
                    bad("messages",
                        "message content parts must be {\"type\": \"text\", \"text\": ...}");
                text += part["text"].get<std::string>();
            }
            out["content"] = text;
        } else if (!content.is_string() && !content.is_null()) {
            bad("messages", "message 'content' must be a string or a list of text parts");
        }
        r.messages.push_back(out);
    }
    const char* max_name =
        present(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    r.sampling = sampling_fields(body, max_name);
    r.logprobs = bool_field(body, "logprobs", false);
    r.top_logprobs = int(int_field(body, "top_logprobs", 0, 0, k_max_top_logprobs));
    if (present(body, "top_logprobs") && !r.logprobs)
        bad("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    r.sampling.params.logprobs = r.logprobs ? r.top_logprobs : -1;
    return r;
}

}  // namespace encore::server
