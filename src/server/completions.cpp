// The completion endpoints (see completions.h).
#include "server/completions.h"

#include <fmt/format.h>

#include "server/api_error.h"
#include "server/context.h"
#include "server/request.h"
#include "server/stream.h"
#include "tokenizer/tokenizer.h"

namespace encore::server {

using nlohmann::json;

namespace {

// Builds the legacy logprobs object, token by token.
class LegacyLogprobs {
  public:
    LegacyLogprobs(const Tokenizer& tok, int k) : tok_(tok), k_(k) { clear(); }
    // `lp` null: a token without a log-probability (the first of a prompt).
    void add(int32_t id, const PositionLogprobs* lp, int64_t offset) {
        out_["tokens"].push_back(token_piece(tok_, id));
        out_["text_offset"].push_back(offset);
        if (!lp) {
            out_["token_logprobs"].push_back(nullptr);
            out_["top_logprobs"].push_back(nullptr);
            return;
        }
        out_["token_logprobs"].push_back(lp->chosen.logprob);
        json top = json::object();
        for (int i = 0; i < k_ && i < int(lp->top.size()); ++i)
            top[token_piece(tok_, lp->top[size_t(i)].id)] = lp->top[size_t(i)].logprob;
        if (k_ > 0) top[token_piece(tok_, id)] = lp->chosen.logprob;  // as OpenAI: k + the token
        out_["top_logprobs"].push_back(top);
    }
    json take() {
        json j = std::move(out_);
        clear();
        return j;
    }

  private:
    void clear() {
        out_ = {{"tokens", json::array()},
                {"token_logprobs", json::array()},
                {"top_logprobs", json::array()},
                {"text_offset", json::array()}};
    }
    const Tokenizer& tok_;
    int k_;
    json out_;
};

// Character offset of each token of `ids` in decode(ids), added to `base`.
std::vector<int64_t> token_offsets(const Tokenizer& tok, const std::vector<int32_t>& ids,
                                   size_t from, size_t to, int64_t base) {
    std::vector<int64_t> offsets;
    for (size_t i = from; i < to; ++i)
        offsets.push_back(base +
                          utf8_length(tok.decode({ids.begin(), ids.begin() + int64_t(i)}, true)));
    return offsets;
}

json usage_json(int64_t prompt, int64_t completion, int64_t cached) {
    return {{"prompt_tokens", prompt},
            {"completion_tokens", completion},
            {"total_tokens", prompt + completion},
            {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

// Prompt, completion and cached token counts of a request (a prompt counted once, not per n).
json request_usage(const std::vector<std::shared_ptr<Job>>& jobs, int n) {
    int64_t prompt = 0, completion = 0, cached = 0;
    for (size_t i = 0; i < jobs.size(); ++i) {
        std::lock_guard lock(jobs[i]->mutex);
        if (i % size_t(n) == 0) {
            prompt += int64_t(jobs[i]->prompt.size());
            cached += jobs[i]->cached_tokens;
        }
        completion += int64_t(jobs[i]->tokens.size());
    }
    return usage_json(prompt, completion, cached);
}

std::string finish_reason_of(const Job& job) {
    return job.finish_reason == "cancelled" ? "stop" : job.finish_reason;
}

std::vector<std::shared_ptr<Job>> make_jobs(ServerContext& ctx, size_t engine,
                                            const std::vector<std::vector<int32_t>>& prompts,
                                            const SamplingFields& f) {
    std::vector<std::shared_ptr<Job>> jobs;
    for (const auto& ids : prompts)
        for (int j = 0; j < f.n; ++j) {
            auto job = std::make_shared<Job>();
            job->engine_index = engine;
            job->prompt = ids;
            job->params = f.params;
            job->params.sampling.seed += uint64_t(j);  // choices differ, each reproducible
            jobs.push_back(job);
        }
    ctx.scheduler->submit(jobs);
    return jobs;
}

int64_t effective_max_tokens(const ServerContext& ctx, size_t n_prompt, const SamplingFields& f,
                             int64_t fallback_when_absent) {
    const int64_t room = ctx.context_length() - int64_t(n_prompt);
    if (!f.max_tokens_given) return std::max<int64_t>(0, std::min(fallback_when_absent, room));
    return f.params.max_tokens;
}

// The fields every response body and stream chunk of one request opens with.
struct ResponseHead {
    std::string id;
    int64_t created = 0;
    std::string model;

    json with(const char* object, json choices) const {
        return {{"id", id},
                {"object", object},
                {"created", created},
                {"model", model},
                {"choices", std::move(choices)}};
    }
};

}  // namespace

void handle_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
    CompletionRequest r = parse_completion_request(parse_body(req.body));
    const size_t engine = ctx.find_model(r.model);
    const std::string model_id = ctx.models[engine].id;
    const Tokenizer& tok = ctx.tokenizer();
    std::vector<std::vector<int32_t>> prompts;
    int64_t max_tokens = r.sampling.params.max_tokens;
    for (Prompt& p : r.prompts) {
        if (p.is_text) {
            p.ids = tok.encode(p.text, true);
            if (p.ids.empty()) throw ApiError(400, "the prompt has no tokens", "prompt");
        } else {
            for (int32_t id : p.ids)
                if (id >= ctx.models[engine].engine->vocab_size())
                    throw ApiError(400,
                                   fmt::format("token id {} is out of range (vocabulary 0-{})", id,
                                               ctx.models[engine].engine->vocab_size() - 1),
                                   "prompt");
            p.text = tok.decode(p.ids, true);
        }
        max_tokens = std::min(max_tokens, effective_max_tokens(ctx, p.ids.size(), r.sampling, 16));
        ctx.check_fits(p.ids.size(), effective_max_tokens(ctx, p.ids.size(), r.sampling, 16));
        prompts.push_back(p.ids);
    }
    r.sampling.params.max_tokens = max_tokens;
    const auto jobs = make_jobs(ctx, engine, prompts, r.sampling);
    const ResponseHead head{make_response_id("cmpl"), unix_time(), model_id};
    const int n = r.sampling.n;
    const int k = std::max(r.logprobs, 0);

    // The echo part of a choice: the prompt's text and, with logprobs, its tokens.
    auto echo_part = [&](size_t job_index, LegacyLogprobs* lp, std::string& text) {
        const Prompt& p = r.prompts[job_index / size_t(n)];
        const Job& job = *jobs[job_index];
        text = p.text;
        if (!lp) return;
        const auto offsets = token_offsets(tok, p.ids, 0, p.ids.size(), 0);
        for (size_t t = 0; t < p.ids.size(); ++t)
            lp->add(p.ids[t], t == 0 ? nullptr : &job.prompt_logprobs[t], offsets[t]);
    };
    auto echo_length = [&](size_t job_index) {
        return r.echo ? utf8_length(r.prompts[job_index / size_t(n)].text) : int64_t(0);
    };

    if (!r.sampling.stream) {
        wait_all(jobs);
        json choices = json::array();
        for (size_t i = 0; i < jobs.size(); ++i) {
            Job& job = *jobs[i];
            std::lock_guard lock(job.mutex);
            std::string text;
            std::optional<LegacyLogprobs> lp;
            if (r.logprobs >= 0) lp.emplace(tok, k);
            if (r.echo) echo_part(i, lp ? &*lp : nullptr, text);
            std::string completion;
            for (const auto& piece : job.pieces) completion += piece;
            if (lp) {
                const auto offsets =
                    token_offsets(tok, job.tokens, 0, job.tokens.size(), echo_length(i));
                for (size_t t = 0; t < job.tokens.size(); ++t)
                    lp->add(job.tokens[t], &job.token_logprobs[t], offsets[t]);
            }
            choices.push_back({{"index", i},
                               {"text", text + completion},
                               {"logprobs", lp ? lp->take() : json(nullptr)},
                               {"finish_reason", finish_reason_of(job)}});
        }
        json body = head.with("text_completion", choices);
        body["usage"] = request_usage(jobs, n);
        res.set_content(dump_json(body), "application/json");
        return;
    }

    auto chunk = [=](size_t index, const std::string& text, json logprobs, json finish) {
        const json choice = {
            {"index", index}, {"text", text}, {"logprobs", logprobs}, {"finish_reason", finish}};
        return head.with("text_completion", json::array({choice}));
    };
    auto chunks = [=, &ctx, echo = r.echo, logprobs = r.logprobs, prompts_copy = r.prompts](
                      size_t i, const JobDelta& d) mutable {
        std::vector<json> out;
        const Tokenizer& t = ctx.tokenizer();
        const Job& job = *jobs[i];
        if (d.prompt_now && echo) {
            std::optional<LegacyLogprobs> lp;
            if (logprobs >= 0) lp.emplace(t, k);
            const Prompt& p = prompts_copy[i / size_t(n)];
            if (lp) {
                std::lock_guard lock(jobs[i]->mutex);
                const auto offsets = token_offsets(t, p.ids, 0, p.ids.size(), 0);
                for (size_t q = 0; q < p.ids.size(); ++q)
                    lp->add(p.ids[q], q == 0 ? nullptr : &job.prompt_logprobs[q], offsets[q]);
            }
            out.push_back(chunk(i, p.text, lp ? lp->take() : json(nullptr), nullptr));
        }
        if (!d.tokens.empty() || !d.text.empty()) {
            json lpj = nullptr;
            if (logprobs >= 0 && !d.tokens.empty()) {
                LegacyLogprobs lp(t, k);
                std::vector<int32_t> all;
                {
                    std::lock_guard lock(jobs[i]->mutex);
                    all = job.tokens;
                }
                const int64_t base = echo ? utf8_length(prompts_copy[i / size_t(n)].text) : 0;
                const auto offsets =
                    token_offsets(t, all, d.first_token, d.first_token + d.tokens.size(), base);
                for (size_t q = 0; q < d.tokens.size(); ++q)
                    lp.add(d.tokens[q], &d.logprobs[q], offsets[q]);
                lpj = lp.take();
            }
            out.push_back(chunk(i, d.text, lpj, nullptr));
        }
        if (d.finished_now) {
            std::lock_guard lock(jobs[i]->mutex);
            out.push_back(chunk(i, "", nullptr, finish_reason_of(job)));
        }
        return out;
    };
    auto final_chunks = [=, include_usage = r.sampling.include_usage]() {
        std::vector<json> out;
        if (include_usage) {
            out.push_back(head.with("text_completion", json::array()));
            out.back()["usage"] = request_usage(jobs, n);
        }
        return out;
    };
    stream_jobs(ctx, res, jobs, "/v1/completions", chunks, final_chunks);
}

void handle_chat_completions(ServerContext& ctx, const httplib::Request& req,
                             httplib::Response& res) {
    ChatRequest r = parse_chat_request(parse_body(req.body));
    const size_t engine = ctx.find_model(r.model);
    const std::string model_id = ctx.models[engine].id;
    const Tokenizer& tok = ctx.tokenizer();
    if (!ctx.chat)
        throw ApiError(400,
                       "the model has no chat template (start the server with --chat-template "
                       "FILE, or use /v1/completions)",
                       "messages", "no_chat_template");
    ChatOptions options;
    options.add_generation_prompt = true;
    options.bos_token = ctx.chat->bos_token;
    options.eos_token = ctx.chat->eos_token;
    const std::string text = render_chat(ctx.chat->tmpl, r.messages, options);
    const std::vector<int32_t> ids = tok.encode(text, false);
    if (ids.empty()) throw ApiError(400, "the rendered conversation has no tokens", "messages");
    const int64_t room = ctx.context_length() - int64_t(ids.size());
    if (!r.sampling.max_tokens_given) r.sampling.params.max_tokens = std::max<int64_t>(room, 0);
    ctx.check_fits(ids.size(), r.sampling.params.max_tokens);
    const auto jobs = make_jobs(ctx, engine, {ids}, r.sampling);
    const ResponseHead head{make_response_id("chatcmpl"), unix_time(), model_id};
    const int k = r.top_logprobs;

    auto entry = [&tok](int32_t token, double logprob) {
        const std::string piece = token_piece(tok, token);
        json bytes = json::array();
        for (unsigned char c : piece) bytes.push_back(int(c));
        return json{{"token", piece}, {"logprob", logprob}, {"bytes", bytes}};
    };
    auto content_logprobs = [entry, k](const std::vector<int32_t>& tokens,
                                       const std::vector<PositionLogprobs>& lps) {
        json content = json::array();
        for (size_t t = 0; t < tokens.size() && t < lps.size(); ++t) {
            json e = entry(tokens[t], lps[t].chosen.logprob);
            e["top_logprobs"] = json::array();
            for (int i = 0; i < k && i < int(lps[t].top.size()); ++i)
                e["top_logprobs"].push_back(
                    entry(lps[t].top[size_t(i)].id, lps[t].top[size_t(i)].logprob));
            content.push_back(e);
        }
        return json{{"content", content}};
    };

    if (!r.sampling.stream) {
        wait_all(jobs);
        json choices = json::array();
        for (size_t i = 0; i < jobs.size(); ++i) {
            Job& job = *jobs[i];
            std::lock_guard lock(job.mutex);
            std::string content;
            for (const auto& piece : job.pieces) content += piece;
            choices.push_back(
                {{"index", i},
                 {"message", {{"role", "assistant"}, {"content", content}}},
                 {"logprobs",
                  r.logprobs ? content_logprobs(job.tokens, job.token_logprobs) : json(nullptr)},
                 {"finish_reason", finish_reason_of(job)}});
        }
        json body = head.with("chat.completion", choices);
        body["usage"] = request_usage(jobs, r.sampling.n);
        res.set_content(dump_json(body), "application/json");
        return;
    }
    auto chunk = [=](size_t index, json delta, json logprobs, json finish) {
        const json choice = {
            {"index", index}, {"delta", delta}, {"logprobs", logprobs}, {"finish_reason", finish}};
        return head.with("chat.completion.chunk", json::array({choice}));
    };
    auto chunks = [=, want_logprobs = r.logprobs](size_t i, const JobDelta& d) {
        std::vector<json> out;
        if (d.prompt_now)
            out.push_back(chunk(i, {{"role", "assistant"}, {"content", ""}}, nullptr, nullptr));
        if (!d.text.empty() || (want_logprobs && !d.tokens.empty()))
            out.push_back(chunk(
                i, {{"content", d.text}},
                want_logprobs ? content_logprobs(d.tokens, d.logprobs) : json(nullptr), nullptr));
        if (d.finished_now) {
            std::lock_guard lock(jobs[i]->mutex);
            out.push_back(chunk(i, json::object(), nullptr, finish_reason_of(*jobs[i])));
        }
        return out;
    };
    auto final_chunks = [=, include_usage = r.sampling.include_usage, n = r.sampling.n]() {
        std::vector<json> out;
        if (include_usage) {
            out.push_back(head.with("chat.completion.chunk", json::array()));
            out.back()["usage"] = request_usage(jobs, n);
        }
        return out;
    };
    stream_jobs(ctx, res, jobs, "/v1/chat/completions", chunks, final_chunks);
}

}  // namespace encore::server
