// `encore convert`: any model encore loads -> a GGUF file (f32, f16, bf16 or q8_0 matrices),
// written atomically.
#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "model/gguf_model.h"

namespace encore::cli {

void add_convert(CLI::App& app) {
    auto model = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    auto type = std::make_shared<std::string>("f16");
    CLI::App* cmd = app.add_subcommand("convert", "write a model as GGUF");
    cmd->add_option("-m,--model", *model, "HF model directory or .gguf file")->required();
    cmd->add_option("-o,--output", *out, "output .gguf file")->required();
    cmd->add_option("--type", *type, "matrix type: f32, f16 (default), bf16, q8_0");
    cmd->callback([model, out, type] {
        DType dtype;
        if (*type == "f32") dtype = DType::f32;
        else if (*type == "f16") dtype = DType::f16;
        else if (*type == "bf16") dtype = DType::bf16;
        else if (*type == "q8_0") dtype = DType::q8_0;
        else fail(ErrorKind::invalid_argument, "--type '{}': expected f32, f16, bf16 or q8_0", *type);
        const auto m = Model::load(*model);
        write_gguf_model(*m, *out, dtype);
    });
}

}  // namespace encore::cli
