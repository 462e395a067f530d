// Request validation: each wrong field is a 400 naming it; defaults are OpenAI's.
#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server/request.h"

namespace encore::server {
namespace {

using nlohmann::json;

std::string param_of(const json& body) {
    try {
        parse_completion_request(body);
    } catch (const ApiError& e) {
        EXPECT_EQ(e.status(), 400);
        return e.param();
    }
    return "<accepted>";
}

TEST(Request, CompletionDefaultsAndPromptShapes) {
    const CompletionRequest r = parse_completion_request(json{{"prompt", "hi"}});
    EXPECT_EQ(r.prompts.size(), 1u);
    EXPECT_TRUE(r.prompts[0].is_text);
    EXPECT_EQ(r.sampling.params.max_tokens, 16);
    EXPECT_EQ(r.sampling.params.sampling.temperature, 1.0f);
    EXPECT_EQ(r.sampling.params.sampling.top_k, 0);
    EXPECT_EQ(r.sampling.params.sampling.top_p, 1.0f);
    EXPECT_EQ(r.sampling.params.sampling.min_p, 0.0f);
    EXPECT_EQ(r.logprobs, -1);
    EXPECT_EQ(parse_completion_request(json{{"prompt", {1, 2, 3}}}).prompts[0].ids,
              (std::vector<int32_t>{1, 2, 3}));
    EXPECT_EQ(parse_completion_request(json{{"prompt", {{1}, {2, 3}}}}).prompts.size(), 2u);
    EXPECT_EQ(parse_completion_request(json{{"prompt", {"a", "b", "c"}}}).prompts.size(), 3u);
    const CompletionRequest e =
        parse_completion_request(json{{"prompt", "x"}, {"echo", true}, {"logprobs", 0}});
    EXPECT_TRUE(e.sampling.params.prompt_logprobs);
}

TEST(Request, WrongFieldsAreNamed) {
    EXPECT_EQ(param_of({{"max_tokens", 3}}), "prompt");
    EXPECT_EQ(param_of({{"prompt", 5}}), "prompt");
    EXPECT_EQ(param_of({{"prompt", json::array()}}), "prompt");
    EXPECT_EQ(param_of({{"prompt", {1, -2}}}), "prompt");
    EXPECT_EQ(param_of({{"prompt", "a"}, {"temperature", "hot"}}), "temperature");
    EXPECT_EQ(param_of({{"prompt", "a"}, {"temperature", 3}}), "temperature");
    EXPECT_EQ(param_of({{"prompt", "a"}, {"max_tokens", 1.5}}), "max_tokens");
    EXPECT_EQ(param_of({{"prompt", "a"}, {"max_tokens", 1e300}}), "max_tokens");
    EXPECT_EQ(param_of({{"prompt", "a"}, {"n", 0}}), "n");
    EXPECT_EQ(param_of({{"prompt", "a"}, {"logprobs", true}}), "logprobs");
    EXPECT_EQ(param_of({{"prompt", "a"}, {"stop", {"x", 3}}}), "stop");
    EXPECT_EQ(param_of({{"prompt", "a"}, {"echo", "yes"}}), "echo");
    EXPECT_EQ(param_of({{"prompt", "a"}, {"seed", "1"}}), "seed");
    EXPECT_EQ(param_of({{"prompt", "a"}, {"logit_bias", {{"5", 1}}}}), "logit_bias");
    EXPECT_EQ(param_of({{"prompt", "a"}, {"stream_options", 1}}), "stream_options");
    EXPECT_EQ(param_of({{"prompt", "a"}, {"unknown_field", {1, 2}}}), "<accepted>");
}

TEST(Request, MalformedBodiesAndChat) {
    EXPECT_THROW(parse_body("{"), ApiError);
    EXPECT_THROW(parse_body("[]"), ApiError);
    EXPECT_THROW(parse_body("\"\xff\""), ApiError);
    EXPECT_THROW(parse_chat_request(json{{"messages", "hi"}}), ApiError);
    EXPECT_THROW(parse_chat_request(json{{"messages", {{{"content", "x"}}}}}), ApiError);
    EXPECT_THROW(parse_chat_request(json{{"messages", {{{"role", "user"}, {"content", "x"}}}},
                                         {"top_logprobs", 2}}),
                 ApiError);
    const ChatRequest r = parse_chat_request(json{
        {"messages",
         {{{"role", "user"},
           {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}}}}},
        {"max_completion_tokens", 5},
        {"logprobs", true},
        {"top_logprobs", 3}});
    EXPECT_EQ(r.messages[0]["content"], "ab");
    EXPECT_EQ(r.sampling.params.max_tokens, 5);
    EXPECT_EQ(r.sampling.params.logprobs, 3);
}

}  // namespace
}  // namespace encore::server
