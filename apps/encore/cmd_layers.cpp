// `encore layers -m MODEL -f TEXT -o DIR`: the layer-distance map of the unmodified model (see
// src/sweep/layer_distance.h) from one forward pass per window: DIR/distance.json, .png, .svg.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "engine/perplexity.h"
#include "sweep/layer_distance.h"
#include "tokenizer/tokenizer.h"

namespace encore::cli {

void add_layers(CLI::App& app) {
    auto args = std::make_shared<ModelArgs>();
    auto file = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    auto ctx = std::make_shared<int64_t>(256);
    auto windows = std::make_shared<int64_t>(4);
    CLI::App* cmd = app.add_subcommand(
        "layers", "angular distance between the residual streams entering each pair of layers");
    add_model_options(cmd, *args);
    cmd->add_option("-f,--file", *file, "UTF-8 text file")->required();
    cmd->add_option("-o,--output", *out, "directory for distance.json/.png/.svg")->required();
    cmd->add_option("--ctx", *ctx, "window length in tokens, BOS included (default 256)");
    cmd->add_option("--windows", *windows, "the first W windows of the text (default 4, 0 = all)");
    cmd->callback([args, file, out, ctx, windows] {
        if (!args->layers.empty())
            fail(ErrorKind::invalid_argument,
                 "layers: --layers is not used (the map is of the unmodified model)");
        const Loaded loaded = load_model(*args);
        if (!std::filesystem::is_regular_file(*file))
            fail(ErrorKind::io, "-f {}: file not found", *file);
        const Tokenizer& tok = loaded.model->tokenizer();
        int64_t bos = loaded.model->spec().bos_token_id;
        if (auto b = tok.bos_id()) bos = *b;
        const auto tokens = tok.encode(read_file(*file), false);
        if (*windows < 0) fail(ErrorKind::invalid_argument, "--windows must be >= 0");
        const auto w = perplexity_windows(tokens, *ctx, bos, *windows);
        auto engine = make_engine(loaded, *args);
        const LayerDistance d = measure_layer_distance(*engine, w);
        std::error_code ec;
        std::filesystem::create_directories(*out, ec);
        if (ec) fail(ErrorKind::io, "{}: cannot create ({})", *out, ec.message());
        write_layer_distance(*out, d);
        std::cerr << "wrote " << *out << "/distance.json (" << d.n_tokens << " tokens), "
                  << "distance.png and distance.svg\n";
    });
}

}  // namespace encore::cli
