// `encore bench template`: how long rendering a chat template takes. A conversation of a system
// message and --turns user/assistant exchanges is rendered with the template of --model-dir
// (a directory with tokenizer_config.json's chat_template and a tokenizer.json[.gz]) --iterations
// times; the median render (template compiled once, as render_chat caches it), the median
// compile + render, and, measured in the same run for scale, the median tokenization of the
// rendered text by the same model's tokenizer. Printed as one JSON line with the ratio
// render / tokenize.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "chat/jinja_builtins.h"
#include "chat/jinja_renderer.h"
#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace encore::cli {

namespace {

struct TemplateBenchArgs {
    std::string model_dir;
    int64_t turns = 50;
    int64_t iterations = 2000;
};

// The benchmark conversation (tools/goldens/chat_template_goldens.py times the same one).
nlohmann::ordered_json bench_conversation(int64_t turns) {
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    messages.push_back({{"role", "system"}, {"content", "You are a helpful assistant."}});
    for (int64_t i = 0; i < turns; ++i) {
        messages.push_back(
            {{"role", "user"},
             {"content", fmt::format("Question number {}: what is {} times {}?", i, i, i)}});
        messages.push_back(
            {{"role", "assistant"}, {"content", fmt::format("{} times {} is {}.", i, i, i * i)}});
    }
    return messages;
}

template <typename F>
double median_seconds(int64_t n, F&& fn) {
    std::vector<double> times;
    times.reserve(size_t(n));
    for (int64_t i = 0; i < n; ++i) {
        const auto t0 = Clock::now();
        fn();
        times.push_back(seconds_since(t0));
    }
    return median(times);
}

void run_template_bench(const TemplateBenchArgs& a) {
    namespace fs = std::filesystem;
    const auto chat = find_chat_template(a.model_dir);
    if (!chat) fail(ErrorKind::invalid_argument, "{} has no chat template", a.model_dir);
    fs::path tokenizer_path = fs::path(a.model_dir) / "tokenizer.json";
    if (!fs::exists(tokenizer_path)) tokenizer_path += ".gz";
    const Tokenizer tok = Tokenizer::from_file(tokenizer_path.string());
    if (a.turns < 1 || a.iterations < 1)
        fail(ErrorKind::invalid_argument, "--turns and --iterations must be >= 1");

    const nlohmann::ordered_json messages = bench_conversation(a.turns);
    ChatOptions options;
    options.add_generation_prompt = true;
    options.bos_token = chat->bos_token;
    options.eos_token = chat->eos_token;
    const std::string text = render_chat(chat->tmpl, messages, options);  // compiles and caches
    size_t sink = 0;
    const double render_s = median_seconds(
        a.iterations, [&] { sink += render_chat(chat->tmpl, messages, options).size(); });
    const double compile_render_s = median_seconds(std::max<int64_t>(1, a.iterations / 10), [&] {
        const jinja::Template compiled(chat->tmpl.source);
        jinja::Dict vars;
        jinja::add_globals(vars);
        vars.set("messages", jinja::Value::from_json(messages));
        vars.set("add_generation_prompt", jinja::Value(true));
        sink += compiled.render(vars).size();
    });
    size_t n_tokens = 0;
    const double tokenize_s = median_seconds(std::max<int64_t>(1, a.iterations / 10),
                                             [&] { n_tokens = tok.encode(text, false).size(); });
    nlohmann::ordered_json out = {{"template", chat->tmpl.origin},
                                  {"turns", a.turns},
                                  {"messages", messages.size()},
                                  {"chars", text.size()},
                                  {"tokens", n_tokens},
                                  {"render_us", render_s * 1e6},
                                  {"compile_and_render_us", compile_render_s * 1e6},
                                  {"tokenize_us", tokenize_s * 1e6},
                                  {"render_over_tokenize", render_s / tokenize_s},
                                  {"check", sink % 2}};
    std::cout << out.dump() << '\n';
}

}  // namespace

void add_bench_template(CLI::App& bench_cmd) {
    auto a = std::make_shared<TemplateBenchArgs>();
    CLI::App* cmd =
        bench_cmd.add_subcommand("template", "chat template rendering time (a long conversation)");
    cmd->add_option("--model-dir", a->model_dir,
                    "directory with tokenizer_config.json (chat_template) and tokenizer.json[.gz]")
        ->required();
    cmd->add_option("--turns", a->turns, "user/assistant exchanges (default 50)");
    cmd->add_option("--iterations", a->iterations, "renders timed (default 2000)");
    cmd->callback([a] { run_template_bench(*a); });
}

}  // namespace encore::cli
