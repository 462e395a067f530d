// POST /v1/completions and POST /v1/chat/completions: requests turned into scheduler jobs (one
// per prompt and choice), answers in OpenAI's shapes — the legacy logprobs object (tokens,
// token_logprobs, top_logprobs, text_offset) with echo, the chat logprobs object, usage with
// cached prompt tokens — whole or as server-sent events.
#pragma once

#include <httplib.h>

namespace encore::server {

struct ServerContext;

void handle_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res);
void handle_chat_completions(ServerContext& ctx, const httplib::Request& req,
                             httplib::Response& res);

}  // namespace encore::server
