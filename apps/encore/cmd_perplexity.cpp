// `encore perplexity`: windowed perplexity of a text file (see engine/perplexity.h), with a
// progress bar on a terminal and a JSON summary line at the end.
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "core/mapped_file.h"
#include "engine/perplexity.h"
#include "tokenizer/tokenizer.h"

namespace encore::cli {

void add_perplexity(CLI::App& app) {
    auto args = std::make_shared<ModelArgs>();
    auto file = std::make_shared<std::string>();
    auto ctx = std::make_shared<int64_t>(512);
    CLI::App* cmd = app.add_subcommand("perplexity", "windowed perplexity of a text file");
    add_model_options(cmd, *args);
    cmd->add_option("-f,--file", *file, "UTF-8 text file")->required();
    cmd->add_option("--ctx", *ctx, "window length in tokens, BOS included (default 512)");
    cmd->callback([args, file, ctx] {
        const Loaded loaded = load_model(*args);
        const std::string text = read_file(*file);
        const Tokenizer& tok = loaded.model->tokenizer();
        const std::vector<int32_t> tokens = tok.encode(text, false);
        auto engine = make_engine(loaded, *args);
        int64_t bos = loaded.model->spec().bos_token_id;
        if (auto b = tok.bos_id()) bos = *b;
        ProgressBar bar("perplexity");
        const auto t0 = std::chrono::steady_clock::now();
        const PerplexityResult r = perplexity(*engine, tokens, *ctx, bos,
                                              [&](int64_t done, int64_t total) { bar.update(done, total); });
        bar.finish();
        report_kv_stats(*engine, *args);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        nlohmann::json summary = {{"file", *file},
                                  {"layers", loaded.plan.to_spec()},
                                  {"ctx", *ctx},
                                  {"windows", r.n_windows},
                                  {"tokens", r.n_predicted},
                                  {"nll", r.nll},
                                  {"ppl", r.ppl()},
                                  {"seconds", seconds}};
        std::cout << summary.dump() << std::endl;
    });
}

}  // namespace encore::cli
