// `encore export -m MODEL --layers SPEC -o OUT --format hf|gguf|mergekit`: a layer plan written
// as a standalone checkpoint, a GGUF file or a mergekit passthrough YAML (see
// src/sweep/export.h).
#include <iostream>

#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "sweep/export.h"

namespace encore::cli {

void add_export(CLI::App& app) {
    auto args = std::make_shared<ModelArgs>();
    auto out = std::make_shared<std::string>();
    auto format = std::make_shared<std::string>("hf");
    auto type = std::make_shared<std::string>();
    CLI::App* cmd = app.add_subcommand(
        "export", "write a layer plan as a standalone model (hf, gguf) or a mergekit YAML");
    add_model_options(cmd, *args, false);
    cmd->add_option("-o,--output", *out, "output directory (hf) or file (gguf, mergekit)")
        ->required();
    cmd->add_option("--format", *format, "hf (default), gguf or mergekit");
    cmd->add_option("--type", *type, "gguf matrix type: f32, f16, bf16, q8_0 (default: as stored)");
    cmd->callback([args, out, format, type] {
        if (args->layers.empty())
            fail(ErrorKind::invalid_argument,
                 "export: --layers SPEC is required (the plan to "
                 "write)");
        if (*format != "hf" && *format != "gguf" && *format != "mergekit")
            fail(ErrorKind::invalid_argument, "--format '{}': expected hf, gguf or mergekit",
                 *format);
        if (!type->empty() && *format != "gguf")
            fail(ErrorKind::invalid_argument, "--type applies to --format gguf only");
        const Loaded loaded = load_model(*args);
        if (*format == "hf")
            export_hf(*loaded.model, loaded.plan, *out);
        else if (*format == "gguf")
            export_gguf(loaded.model, loaded.plan, *out, *type);
        else
            export_mergekit(*loaded.model, loaded.plan, *out);
        std::cerr << "wrote " << *out << " (layers " << loaded.plan.to_spec() << ", "
                  << loaded.plan.n_instances() << " instances)\n";
    });
}

}  // namespace encore::cli
