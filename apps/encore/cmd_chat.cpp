// `encore chat`: interactive turns, one line of stdin per user turn, each answered by generated
// text streamed to stdout (one reply per line). One Sequence holds the whole conversation, so
// each turn computes only its own new tokens.
//
// With a chat template (the model's, or --chat-template FILE) the turns are role-tagged
// messages ({"role": "user", ...}, an optional --system message first): each turn renders the
// whole conversation with the generation prompt, and when the cache's text is a prefix of that
// rendering (the usual case) only the rest is tokenized and computed; otherwise set_tokens()
// keeps the longest common prefix. Replies end at the template's end-of-turn token (or text)
// and EOS; a reply's text becomes the assistant message of the next rendering.
//
// Without a template the conversation as the model sees it is "turn 1\nreply 1\nturn 2\n...":
// the first turn is tokenized with BOS, the others without. A reply's last token (the one that
// produced EOS or a stop string) is not in the cache, so the text of it that was shown before
// the stop string is appended ahead of the next turn, keeping the cache's text equal to the
// transcript.
#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "chat/chat_template.h"
#include "chat/chat_tokens.h"
#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "engine/generate.h"
#include "engine/sequence.h"
#include "tokenizer/tokenizer.h"

namespace encore::cli {

namespace {

struct ChatArgs {
    std::vector<std::string> stops;
    std::string system, template_file, template_name, transcript;
};

bool read_turn(std::string& line, bool interactive) {
    if (interactive) {
        std::fputs("> ", stderr);
        std::fflush(stderr);
    }
    if (!std::getline(std::cin, line)) return false;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
}

void print_piece(const std::string& piece) {
    std::fputs(piece.c_str(), stdout);
    std::fflush(stdout);
}

void plain_chat(Sequence& seq, const Tokenizer& tok, Sampler& sampler, GenerateOptions options,
                const ChatArgs& chat_args, bool interactive) {
    options.stop_strings =
        chat_args.stops.empty() ? std::vector<std::string>{"\n"} : chat_args.stops;
    std::string carry;  // text shown in the last reply but not in the cache
    std::string line;
    for (bool first = true; read_turn(line, interactive); first = false) {
        const std::string turn = (first ? "" : carry + "\n") + line + "\n";
        const std::vector<int32_t> ids = tok.encode(turn, /*add_special=*/first);
        seq.prefill(ids, Logits::last);
        const GenerateResult r = generate(seq, sampler, options, print_piece);
        std::fputc('\n', stdout);
        std::fflush(stdout);
        // generate() did not prefill the token that stopped it; find what of its text was
        // shown (everything the cache lacks, up to the stop string).
        carry.clear();
        if (r.stop_reason != "max_tokens" && !r.tokens.empty()) {
            const std::vector<int32_t> cached(r.tokens.begin(), r.tokens.end() - 1);
            const std::string cached_text = tok.decode(cached, true);
            if (r.text.size() > cached_text.size() &&
                r.text.compare(0, cached_text.size(), cached_text) == 0)
                carry = r.text.substr(cached_text.size());
        }
    }
}

void template_chat(Sequence& seq, const Tokenizer& tok, Sampler& sampler, GenerateOptions options,
                   const ModelChat& chat, const ChatArgs& chat_args, bool interactive,
                   bool verbose) {
    const EndOfTurn eot = find_end_of_turn(chat, tok);
    options.stop_tokens = eot.token_ids;
    options.stop_strings = eot.stop_strings;
    for (const auto& s : chat_args.stops) options.stop_strings.push_back(s);
    ChatOptions render_options;
    render_options.add_generation_prompt = true;
    render_options.bos_token = chat.bos_token;
    render_options.eos_token = chat.eos_token;
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    if (!chat_args.system.empty())
        messages.push_back({{"role", "system"}, {"content", chat_args.system}});
    std::string cache_text;  // the text of the tokens the sequence holds
    std::string line;
    for (int turn = 1; read_turn(line, interactive); ++turn) {
        messages.push_back({{"role", "user"}, {"content", line}});
        const std::string prompt = render_chat(chat.tmpl, messages, render_options);
        const int64_t cached_before = seq.size();
        int64_t computed;
        if (!cache_text.empty() && prompt.compare(0, cache_text.size(), cache_text) == 0) {
            const std::vector<int32_t> ids = tok.encode(prompt.substr(cache_text.size()), false);
            seq.prefill(ids, Logits::last);
            computed = int64_t(ids.size());
        } else {
            const std::vector<int32_t> ids = chat_token_ids(tok, prompt);
            computed = int64_t(ids.size()) - seq.set_tokens(ids, Logits::last);
        }
        if (verbose)
            std::fprintf(stderr,
                         "chat: turn %d: %lld tokens, %lld computed, %lld reused from the cache "
                         "(held %lld)\n",
                         turn, (long long)seq.size(), (long long)computed,
                         (long long)(seq.size() - computed), (long long)cached_before);
        cache_text = prompt;
        const GenerateResult r = generate(seq, sampler, options, print_piece);
        std::fputc('\n', stdout);
        std::fflush(stdout);
        // The cache holds every generated token but the one that stopped the reply.
        std::vector<int32_t> cached(r.tokens.begin(), r.tokens.end());
        if (r.stop_reason != "max_tokens" && !cached.empty()) cached.pop_back();
        cache_text += tok.decode(cached, false);
        messages.push_back({{"role", "assistant"}, {"content", r.text}});
    }
    if (!chat_args.transcript.empty()) {
        AtomicFileWriter out(chat_args.transcript);
        out.write(nlohmann::ordered_json{{"messages", messages}, {"text", cache_text}}.dump(1) +
                  "\n");
        out.commit();
    }
}

}  // namespace

void add_chat(CLI::App& app) {
    auto args = std::make_shared<ModelArgs>();
    auto sampling = std::make_shared<SamplerOptions>();
    auto gen = std::make_shared<GenerateOptions>();
    auto chat_args = std::make_shared<ChatArgs>();
    CLI::App* cmd = app.add_subcommand("chat",
                                       "interactive turns on stdin (one line per turn), replies on "
                                       "stdout; the model's chat template when it has one");
    add_model_options(cmd, *args);
    cmd->add_option("-n,--n-predict", gen->max_tokens, "tokens per reply at most (default 128)");
    add_sampling_options(cmd, *sampling);
    cmd->add_option(
        "--stop", chat_args->stops,
        "end a reply when this text appears (repeatable; default without a template: \\n)");
    cmd->add_option("--system", chat_args->system,
                    "a system message opening the conversation (needs a chat template)");
    cmd->add_option("--chat-template", chat_args->template_file,
                    "a Jinja file used instead of the model's template");
    cmd->add_option("--chat-template-name", chat_args->template_name,
                    "a named template of tokenizer_config.json (e.g. tool_use)");
    cmd->add_option("--transcript", chat_args->transcript,
                    "with a template: write {\"messages\": [...], \"text\": what the model saw} "
                    "here at the end");
    cmd->callback([args, sampling, gen, chat_args] {
        const auto chat =
            find_chat_template(args->model, chat_args->template_name, chat_args->template_file);
        if (!chat && !chat_args->system.empty())
            fail(ErrorKind::invalid_argument,
                 "--system needs a chat template ({} has none; give --chat-template FILE)",
                 args->model);
        if (!chat && !chat_args->transcript.empty())
            fail(ErrorKind::invalid_argument, "--transcript needs a chat template ({} has none)",
                 args->model);
        const Loaded loaded = load_model(*args);
        auto engine = make_engine(loaded, *args);
        const Tokenizer& tok = loaded.model->tokenizer();
        Sampler sampler(*sampling);
        const bool interactive = isatty(0) != 0;
        Sequence seq(*engine);
        if (chat)
            template_chat(seq, tok, sampler, *gen, *chat, *chat_args, interactive, args->verbose);
        else
            plain_chat(seq, tok, sampler, *gen, *chat_args, interactive);
        report_kv_stats(*engine, *args);
    });
}

}  // namespace encore::cli
