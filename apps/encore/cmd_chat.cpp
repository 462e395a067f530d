// `encore chat`: plain-text turns, one line of stdin per user turn, each answered by generated
// text streamed to stdout (one reply per line with the default stop string "\n"). One Sequence
// holds the whole conversation, so each turn computes only its own new tokens.
//
// The conversation as the model sees it is "turn 1\nreply 1\nturn 2\nreply 2\n...": the first
// turn is tokenized with BOS, the others without. A reply's last token (the one that produced
// EOS or a stop string) is not in the cache, so the text of it that was shown before the stop
// string is appended ahead of the next turn, keeping the cache's text equal to the transcript.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "engine/generate.h"
#include "engine/sequence.h"
#include "tokenizer/tokenizer.h"

namespace encore::cli {

void add_chat(CLI::App& app) {
    auto args = std::make_shared<ModelArgs>();
    auto sampling = std::make_shared<SamplerOptions>();
    auto gen = std::make_shared<GenerateOptions>();
    auto stops = std::make_shared<std::vector<std::string>>();
    CLI::App* cmd = app.add_subcommand(
        "chat", "interactive plain-text turns on stdin (one line per turn), replies on stdout");
    add_model_options(cmd, *args);
    cmd->add_option("-n,--n-predict", gen->max_tokens, "tokens per reply at most (default 128)");
    add_sampling_options(cmd, *sampling);
    cmd->add_option("--stop", *stops,
                    "end a reply when this text appears (repeatable; default \\n)");
    cmd->callback([args, sampling, gen, stops] {
        const Loaded loaded = load_model(*args);
        auto engine = make_engine(loaded, *args);
        const Tokenizer& tok = loaded.model->tokenizer();
        Sampler sampler(*sampling);
        GenerateOptions options = *gen;
        options.stop_strings = stops->empty() ? std::vector<std::string>{"\n"} : *stops;
        const bool interactive = isatty(0) != 0;
        Sequence seq(*engine);
        std::string carry;  // text shown in the last reply but not in the cache
        std::string line;
        for (bool first = true;; first = false) {
            if (interactive) {
                std::fputs("> ", stderr);
                std::fflush(stderr);
            }
            if (!std::getline(std::cin, line)) break;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            const std::string turn = (first ? "" : carry + "\n") + line + "\n";
            const std::vector<int32_t> ids = tok.encode(turn, /*add_special=*/first);
            seq.prefill(ids, Logits::last);
            const GenerateResult r = generate(seq, sampler, options, [](const std::string& piece) {
                std::fputs(piece.c_str(), stdout);
                std::fflush(stdout);
            });
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
    });
}

}  // namespace encore::cli
