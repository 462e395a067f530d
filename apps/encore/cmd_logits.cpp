// `encore logits`: logits of every position of a token list, written as a safetensors file
// (tensor `logits`, F32, [n_tokens, vocab]), atomically.
#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "engine/sequence.h"
#include "formats/safetensors.h"

namespace encore::cli {

void add_logits(CLI::App& app) {
    auto args = std::make_shared<ModelArgs>();
    auto tokens = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand("logits", "logits of every position of a token list");
    add_model_options(cmd, *args);
    cmd->add_option("--tokens", *tokens, "comma-separated token ids")->required();
    cmd->add_option("-o,--output", *out, "output .safetensors file")->required();
    cmd->callback([args, tokens, out] {
        const std::vector<int32_t> ids = parse_token_list(*tokens);
        const Loaded loaded = load_model(*args);
        auto engine = make_engine(loaded, *args);
        Sequence seq(*engine);
        seq.prefill(ids, Logits::all);
        const auto logits = seq.logits();
        report_kv_stats(*engine, *args);
        TensorToWrite t{"logits", DType::f32, {int64_t(ids.size()), engine->vocab_size()},
                        logits.data()};
        write_safetensors(*out, {t},
                          {{"model", loaded.model->path()}, {"layers", loaded.plan.to_spec()},
                           {"tokens", *tokens}});
    });
}

}  // namespace encore::cli
