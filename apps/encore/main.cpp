// The encore command line: one binary, one subcommand per job (see README.md). Errors raised
// anywhere below are printed as one line on stderr with a non-zero exit code.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
    CLI::App app{"encore: inference for Llama-family models, built for repeated work"};
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "help for every subcommand");
    app.failure_message([](const CLI::App*, const CLI::Error& e) {  // one line, as for every error
        return "encore: error: " + std::string(e.what()) + " (see --help)\n";
    });
    encore::cli::add_info(app);
    encore::cli::add_tokenize(app);
    encore::cli::add_detokenize(app);
    encore::cli::add_logits(app);
    encore::cli::add_generate(app);
    encore::cli::add_perplexity(app);
    encore::cli::add_convert(app);
    encore::cli::add_bench(app);
    encore::cli::add_cache(app);
    encore::cli::add_chat(app);
    encore::cli::add_template(app);
    encore::cli::add_sweep(app);
    encore::cli::add_layers(app);
    encore::cli::add_export(app);
    encore::cli::add_score(app);
    encore::cli::add_choose(app);
    encore::cli::add_serve(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    } catch (const encore::Error& e) {
        std::fprintf(stderr, "encore: error: %s\n", e.what());
        return e.kind() == encore::ErrorKind::internal ? 70 : 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "encore: error: out of memory\n");
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "encore: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
