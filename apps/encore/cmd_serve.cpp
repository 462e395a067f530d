// `encore serve`: the OpenAI-compatible HTTP server (src/server). Binds to loopback by default;
// -m defaults to the bundled model, so `encore serve` alone works from the repository root.
// SIGTERM or SIGINT drains running requests and exits 0.
#include <csignal>
#include <thread>

#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "server/server.h"

namespace encore::cli {

namespace {

// "NAME=FILE" or "NAME=SPEC" -> (NAME, rest); a value without '=' is its own name.
std::pair<std::string, std::string> split_named(const std::string& value, const char* option,
                                                bool name_required) {
    const size_t eq = value.find('=');
    if (eq == std::string::npos) {
        if (name_required)
            fail(ErrorKind::invalid_argument, "{} '{}': expected NAME=FILE", option, value);
        return {value, value};
    }
    if (eq == 0 || eq + 1 == value.size())
        fail(ErrorKind::invalid_argument, "{} '{}': expected NAME=VALUE with both parts", option,
             value);
    return {value.substr(0, eq), value.substr(eq + 1)};
}

}  // namespace

void add_serve(CLI::App& app) {
    auto o = std::make_shared<server::ServerOptions>();
    auto plans = std::make_shared<std::vector<std::string>>();
    auto rubrics = std::make_shared<std::vector<std::string>>();
    auto kv_budget = std::make_shared<std::string>();
    auto kv_type = std::make_shared<std::string>("auto");
    auto max_body = std::make_shared<std::string>("8MiB");
    o->model_path = "assets/brown-llama-12l";
    CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server");
    cmd->add_option("-m,--model", o->model_path,
                    "HF model directory or .gguf file (default: assets/brown-llama-12l)");
    cmd->add_option("--model-name", o->model_name,
                    "model id clients use (default: the model's directory or file name)");
    add_layers_option(cmd, o->layers);
    cmd->add_option("--plan", *plans,
                    "serve a layer plan as its own model id MODEL@NAME: NAME=SPEC, or SPEC "
                    "(named by itself); repeatable");
    cmd->add_option("--rubric", *rubrics, "a rubric for /v1/score by name: NAME=FILE; repeatable");
    cmd->add_option("--chat-template", o->chat_template_file,
                    "a Jinja chat template file (default: the model's own)");
    cmd->add_option("--host", o->host, "address to bind (default 127.0.0.1)");
    cmd->add_option("--port", o->port, "port (default 8080)")->check(CLI::Range(1, 65535));
    cmd->add_option("--parallel", o->parallel, "requests generating at once (default 32)");
    cmd->add_option("--max-queue", o->max_queue,
                    "requests waiting for KV room before 429 (default 128)");
    cmd->add_option("--api-key", o->api_key, "require Authorization: Bearer KEY (not /health)");
    cmd->add_option("--threads", o->threads, "worker threads (default: all cores)");
    cmd->add_option("--device", o->device, "cpu (SIMD, default) or scalar (reference)");
    cmd->add_option("--kv-budget", *kv_budget, "KV cache budget per served model, e.g. 2GiB");
    add_kv_type_option(cmd, *kv_type);
    cmd->add_option("--max-body", *max_body, "largest request body (default 8MiB), else 413");
    cmd->callback([o, plans, rubrics, kv_budget, kv_type, max_body] {
        o->kv_type = parse_kv_type_option(*kv_type);
        for (const auto& p : *plans) o->plans.push_back(split_named(p, "--plan", false));
        for (const auto& r : *rubrics) o->rubrics.push_back(split_named(r, "--rubric", true));
        if (!kv_budget->empty()) o->kv_budget_bytes = parse_bytes(*kv_budget, "--kv-budget");
        o->max_body_bytes = size_t(parse_bytes(*max_body, "--max-body"));
        // SIGTERM/SIGINT are taken by one thread (blocked everywhere else, inherited by every
        // thread started from here on) that asks the server to drain.
        sigset_t signals;
        sigemptyset(&signals);
        sigaddset(&signals, SIGTERM);
        sigaddset(&signals, SIGINT);
        pthread_sigmask(SIG_BLOCK, &signals, nullptr);
        server::Server srv(*o);
        std::thread waiter([&srv, signals] {
            int sig = 0;
            sigwait(&signals, &sig);
            srv.shutdown();
        });
        try {
            srv.run();
        } catch (...) {
            pthread_kill(waiter.native_handle(), SIGTERM);
            waiter.join();
            throw;
        }
        waiter.join();
    });
}

}  // namespace encore::cli
