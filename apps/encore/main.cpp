// The encore command line: one binary, one subcommand per job (see README.md). Errors raised
// anywhere below are printed as one line on stderr with a non-zero exit code.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.h"
#include "common.h"
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
    // A first word that names no command: say which, rather than CLI11's "A subcommand is
    // required", with the closest command's name when one is a typo away.
    if (argc > 1 && argv[1][0] != '-') {
        const std::string word = argv[1];
        std::string names, closest;
        size_t best = 3;  // edits allowed for a suggestion
        bool known = false;
        for (const CLI::App* sub : app.get_subcommands({})) {
            const std::string& name = sub->get_name();
            known = known || name == word;
            names += (names.empty() ? "" : ", ") + name;
            const size_t d = encore::cli::edit_distance(word, name);
            if (d < best) best = d, closest = name;
        }
        if (!known) {
            std::fprintf(stderr, "encore: error: unknown command '%s'%s (commands: %s)\n",
                         word.c_str(),
                         closest.empty() ? "" : (" (did you mean '" + closest + "'?)").c_str(),
                         names.c_str());
            return 2;
        }
    }
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
