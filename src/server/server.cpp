// The HTTP front of `encore serve`: routes, authentication, limits, the error envelope, the small
// endpoints (health, models, tokenize, detokenize, metrics), loading and draining (see server.h).
#include "server/server.h"

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <random>
#include <thread>

#include "core/error.h"
#include "model/layer_plan.h"
#include "server/api_error.h"
#include "server/completions.h"
#include "server/context.h"
#include "server/request.h"
#include "server/score_endpoints.h"
#include "tokenizer/tokenizer.h"

namespace encore::server {

using nlohmann::json;

// ---- ServerContext helpers -------------------------------------------------------------------

size_t ServerContext::find_model(const std::string& id) const {
    if (id.empty()) return 0;
    for (size_t i = 0; i < models.size(); ++i)
        if (models[i].id == id) return i;
    std::string known;
    for (const auto& m : models) known += (known.empty() ? "" : ", ") + m.id;
    throw ApiError(404, fmt::format("the model '{}' does not exist (served: {})", id, known),
                   "model", "model_not_found");
}

const Tokenizer& ServerContext::tokenizer() const {
    return model->tokenizer();
}

int64_t ServerContext::context_length() const {
    return model->spec().max_position;
}

void ServerContext::check_fits(size_t n_prompt, int64_t max_tokens) const {
    const int64_t ctx = context_length();
    if (int64_t(n_prompt) > ctx)
        throw ApiError(400,
                       fmt::format("This model's maximum context length is {} tokens, the prompt "
                                   "has {} tokens",
                                   ctx, n_prompt),
                       "prompt", "context_length_exceeded");
    if (int64_t(n_prompt) + max_tokens > ctx)
        throw ApiError(400,
                       fmt::format("This model's maximum context length is {} tokens. However, "
                                   "you requested {} tokens ({} in the prompt, {} for the "
                                   "completion)",
                                   ctx, int64_t(n_prompt) + max_tokens, n_prompt, max_tokens),
                       "max_tokens", "context_length_exceeded");
}

std::string token_piece(const Tokenizer& tok, int32_t id) {
    return tok.decode({id}, false);
}

int64_t utf8_length(const std::string& s) {
    int64_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

std::string make_response_id(const char* prefix) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return fmt::format("{}-{:016x}", prefix, rng());
}

int64_t unix_time() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// ---- Server ----------------------------------------------------------------------------------

struct Server::Impl {
    ServerContext ctx;
    httplib::Server http;
    std::mutex mutex;
    std::condition_variable cv;
    bool shutdown_requested = false;

    void send_error(httplib::Response& res, const ApiError& e) {
        res.status = e.status();
        res.set_content(dump_json(error_envelope(e)), "application/json");
    }

    // Runs a handler: errors become the envelope; the request is counted and timed (streams
    // count themselves when they end).
    httplib::Server::Handler wrap(
        const std::string& endpoint,
        std::function<void(const httplib::Request&, httplib::Response&)> fn) {
        return [this, endpoint, fn](const httplib::Request& req, httplib::Response& res) {
            const auto t0 = std::chrono::steady_clock::now();
            try {
                fn(req, res);
            } catch (const ApiError& e) {
                send_error(res, e);
            } catch (const Error& e) {
                const bool client = e.kind() == ErrorKind::invalid_argument ||
                                    e.kind() == ErrorKind::out_of_range ||
                                    e.kind() == ErrorKind::format ||
                                    e.kind() == ErrorKind::unsupported;
                send_error(res, ApiError(client ? 400 : 500, e.what()));
            } catch (const std::bad_alloc&) {
                send_error(res, ApiError(500, "out of memory"));
            } catch (const std::exception& e) {
                send_error(res, ApiError(500, e.what()));
            }
            if (res.is_chunked_content_provider_ && res.status < 400) return;
            ctx.metrics.count_request(endpoint, res.status);
            ctx.metrics.request_latency_seconds.observe(
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        };
    }

    void routes() {
        http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
            if (!ctx.ready || ctx.draining) {
                send_error(res, ApiError(503, ctx.draining ? "shutting down" : "loading model", "",
                                         "unavailable"));
                return;
            }
            res.set_content(R"({"status":"ok"})", "application/json");
        });
        http.Get("/v1/models", wrap("/v1/models", [this](const auto&, auto& res) {
                     json data = json::array();
                     for (const auto& m : ctx.models)
                         data.push_back({{"id", m.id},
                                         {"object", "model"},
                                         {"created", 0},
                                         {"owned_by", "encore"},
                                         {"root", ctx.models[0].id},
                                         {"layers", m.engine->plan().to_spec()},
                                         {"max_model_len", ctx.context_length()}});
                     res.set_content(dump_json({{"object", "list"}, {"data", data}}),
                                     "application/json");
                 }));
        http.Post("/v1/completions", wrap("/v1/completions", [this](const auto& req, auto& res) {
                      handle_completions(ctx, req, res);
                  }));
        http.Post("/v1/chat/completions",
                  wrap("/v1/chat/completions", [this](const auto& req, auto& res) {
                      handle_chat_completions(ctx, req, res);
                  }));
        http.Post("/v1/score", wrap("/v1/score", [this](const auto& req, auto& res) {
                      handle_score(ctx, req, res);
                  }));
        http.Post("/v1/choose", wrap("/v1/choose", [this](const auto& req, auto& res) {
                      handle_choose(ctx, req, res);
                  }));
        http.Post("/tokenize",
                  wrap("/tokenize", [this](const auto& req, auto& res) { tokenize(req, res); }));
        http.Post("/detokenize", wrap("/detokenize", [this](const auto& req, auto& res) {
                      detokenize(req, res);
                  }));
        http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
            res.set_content(ctx.metrics.render(), "text/plain; version=0.0.4");
        });
    }

    // llama.cpp: {"content", "add_special" (default false), "with_pieces"};
    // vLLM: {"prompt", "add_special_tokens" (default true), "model"}.
    void tokenize(const httplib::Request& req, httplib::Response& res) {
        const json body = parse_body(req.body);
        ctx.find_model(string_field(body, "model", ""));
        const bool llama = body.contains("content");
        const std::string text = string_field(body, llama ? "content" : "prompt", "");
        if (!llama && !body.contains("prompt"))
            throw ApiError(400, "'content' (or 'prompt') is required", "content");
        bool add_special = bool_field(body, "add_special", !llama);
        add_special = bool_field(body, "add_special_tokens", add_special);
        const bool with_pieces = bool_field(body, "with_pieces", false);
        const Tokenizer& tok = ctx.tokenizer();
        const std::vector<int32_t> ids = tok.encode(text, add_special);
        json tokens = json::array();
        for (int32_t id : ids) {
            if (with_pieces)
                tokens.push_back({{"id", id}, {"piece", token_piece(tok, id)}});
            else
                tokens.push_back(id);
        }
        res.set_content(dump_json({{"tokens", tokens},
                                   {"count", ids.size()},
                                   {"max_model_len", ctx.context_length()}}),
                        "application/json");
    }

    void detokenize(const httplib::Request& req, httplib::Response& res) {
        const json body = parse_body(req.body);
        ctx.find_model(string_field(body, "model", ""));
        if (!body.contains("tokens")) throw ApiError(400, "'tokens' is required", "tokens");
        const std::vector<int32_t> ids = token_list(body["tokens"], "tokens");
        const Tokenizer& tok = ctx.tokenizer();
        for (int32_t id : ids)
            if (id >= tok.vocab_size())
                throw ApiError(400,
                               fmt::format("token id {} is out of range (vocabulary 0-{})", id,
                                           tok.vocab_size() - 1),
                               "tokens");
        const std::string text = tok.decode(ids, false);
        res.set_content(dump_json({{"content", text}, {"prompt", text}}), "application/json");
    }

    void configure() {
        const ServerOptions& o = ctx.options;
        const size_t n_threads = size_t(o.parallel + o.max_queue + 16);
        http.new_task_queue = [n_threads] { return new httplib::ThreadPool(n_threads); };
        http.set_payload_max_length(o.max_body_bytes);
        // SO_REUSEADDR only: cpp-httplib's default adds SO_REUSEPORT, which would let a second
        // server bind a port that is in use and silently share it.
        http.set_socket_options([](socket_t sock) {
            int yes = 1;
            setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
        });
        http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
            if (req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
            const std::string& key = ctx.options.api_key;
            if (!key.empty() && req.get_header_value("Authorization") != "Bearer " + key) {
                send_error(res, ApiError(401,
                                         "a valid API key is required (Authorization: "
                                         "Bearer KEY)",
                                         "", "invalid_api_key"));
                ctx.metrics.count_request(req.path, 401);
                return httplib::Server::HandlerResponse::Handled;
            }
            if (!ctx.ready || ctx.draining) {
                send_error(res, ApiError(503,
                                         ctx.draining ? "the server is shutting down"
                                                      : "the model is still loading",
                                         "", "unavailable"));
                return httplib::Server::HandlerResponse::Handled;
            }
            return httplib::Server::HandlerResponse::Unhandled;
        });
        http.set_error_handler(httplib::Server::HandlerWithResponse(
            [this](const httplib::Request& req, httplib::Response& res) {
                if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
                std::string message = fmt::format("HTTP status {}", res.status);
                if (res.status == 400) message = "malformed HTTP request";
                if (res.status == 404)
                    message = fmt::format("no endpoint {} {}", req.method, req.path);
                if (res.status == 413)
                    message = fmt::format("the request body is larger than {} bytes",
                                          ctx.options.max_body_bytes);
                send_error(res, ApiError(res.status, message));
                return httplib::Server::HandlerResponse::Handled;
            }));
        http.set_exception_handler(
            [this](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
                send_error(res, ApiError(500, "internal error"));
            });
        routes();
    }

    void load() {
        const ServerOptions& o = ctx.options;
        ctx.model = Model::load(o.model_path);
        ctx.model->tokenizer();  // fails now, with a clear message, if there is none
        std::string name = o.model_name;
        if (name.empty()) {
            std::filesystem::path p(o.model_path);
            if (!p.has_filename()) p = p.parent_path();
            name = p.stem().string();
            if (std::filesystem::is_directory(o.model_path)) name = p.filename().string();
        }
        EngineOptions eo;
        eo.backend = o.device;
        eo.kv_budget_bytes = o.kv_budget_bytes;
        eo.kv_type = o.kv_type;
        eo.thread_pool = std::make_shared<ThreadPool>(o.threads);
        const int n_layers = int(ctx.model->spec().n_layers);
        ctx.models.push_back(
            {name, std::make_unique<Engine>(ctx.model, LayerPlan::parse(o.layers, n_layers), eo)});
        for (const auto& [plan_name, spec] : o.plans)
            ctx.models.push_back(
                {name + "@" + plan_name,
                 std::make_unique<Engine>(ctx.model, LayerPlan::parse(spec, n_layers), eo)});
        ctx.chat = find_chat_template(o.model_path, "", o.chat_template_file);
        load_rubrics(ctx);
        std::vector<Engine*> engines;
        std::vector<std::string> names;
        for (auto& m : ctx.models) {
            engines.push_back(m.engine.get());
            names.push_back(m.id);
        }
        SchedulerOptions so;
        so.parallel = o.parallel;
        so.max_queue = o.max_queue;
        ctx.scheduler = std::make_unique<Scheduler>(engines, names, so, ctx.metrics);
    }
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>()) {
    if (options.parallel < 1) fail(ErrorKind::invalid_argument, "--parallel must be at least 1");
    if (options.max_queue < 1) fail(ErrorKind::invalid_argument, "--max-queue must be at least 1");
    impl_->ctx.options = std::move(options);
}

Server::~Server() = default;

void Server::run() {
    Impl& s = *impl_;
    s.configure();
    const ServerOptions& o = s.ctx.options;
    if (!s.http.bind_to_port(o.host, o.port))
        fail(ErrorKind::io, "cannot listen on {}:{} (in use, or not an address of this machine)",
             o.host, o.port);
    std::thread listener([&s] { s.http.listen_after_bind(); });
    std::fprintf(stderr, "encore serve: listening on http://%s:%d, loading %s\n", o.host.c_str(),
                 o.port, o.model_path.c_str());
    // Tests set ENCORE_TEST_LOAD_DELAY_MS to hold the loading state long enough to observe /health
    // answering 503; a small model otherwise loads before a client's first request.
    if (const char* delay = std::getenv("ENCORE_TEST_LOAD_DELAY_MS"))
        std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(delay)));
    try {
        s.load();
    } catch (...) {
        s.http.stop();
        listener.join();
        throw;
    }
    s.ctx.ready = true;
    std::fprintf(stderr, "encore serve: ready (models:");
    for (const auto& m : s.ctx.models) std::fprintf(stderr, " %s", m.id.c_str());
    std::fprintf(stderr, ")\n");
    {
        std::unique_lock lock(s.mutex);
        s.cv.wait(lock, [&] { return s.shutdown_requested; });
    }
    std::fprintf(stderr, "encore serve: draining\n");
    s.ctx.draining = true;
    s.ctx.scheduler->drain();  // finishes every admitted and queued job
    // Handlers still writing their answers finish before stop() returns the worker threads.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    s.http.stop();
    listener.join();
    std::fprintf(stderr, "encore serve: stopped\n");
}

void Server::shutdown() {
    std::lock_guard lock(impl_->mutex);
    impl_->shutdown_requested = true;
    impl_->cv.notify_all();
}

}  // namespace encore::server
