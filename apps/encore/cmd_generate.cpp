// `encore generate`: continue a prompt, streaming text to stdout; --temp 0 is greedy.
#include <cstdio>

#include "commands.h"
#include "common.h"
#include "engine/generate.h"
#include "engine/sequence.h"
#include "tokenizer/tokenizer.h"

namespace encore::cli {

void add_generate(CLI::App& app) {
    auto args = std::make_shared<ModelArgs>();
    auto prompt = std::make_shared<std::string>();
    auto sampling = std::make_shared<SamplerOptions>();
    auto gen = std::make_shared<GenerateOptions>();
    CLI::App* cmd = app.add_subcommand("generate", "continue a prompt");
    add_model_options(cmd, *args);
    cmd->add_option("-p,--prompt", *prompt, "prompt text")->required();
    cmd->add_option("-n,--n-predict", gen->max_tokens, "tokens to generate (default 128)");
    add_sampling_options(cmd, *sampling);
    cmd->add_option("--stop", gen->stop_strings, "stop when this text appears (repeatable)");
    cmd->callback([args, prompt, sampling, gen] {
        const Loaded loaded = load_model(*args);
        auto engine = make_engine(loaded, *args);
        Sampler sampler(*sampling);
        const std::vector<int32_t> ids = loaded.model->tokenizer().encode(*prompt, true);
        Sequence seq(*engine);
        seq.prefill(ids, Logits::last);
        std::fputs(prompt->c_str(), stdout);
        std::fflush(stdout);
        generate(seq, sampler, *gen, [](const std::string& piece) {
            std::fputs(piece.c_str(), stdout);
            std::fflush(stdout);
        });
        std::fputc('\n', stdout);
        report_kv_stats(*engine, *args);
    });
}

}  // namespace encore::cli
