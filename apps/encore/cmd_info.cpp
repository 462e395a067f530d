// `encore info`: what a model is (architecture, parameters, dtypes, layers) and what a layer plan
// costs (weight bytes unchanged, KV bytes per token growing with the number of instances, halved
// by --kv-type f16 / bf16).
#include <fmt/format.h>

#include "chat/chat_template.h"
#include "commands.h"
#include "common.h"
#include "tokenizer/tokenizer.h"

namespace encore::cli {

void add_info(CLI::App& app) {
    auto args = std::make_shared<ModelArgs>();
    CLI::App* cmd = app.add_subcommand("info", "describe a model and a layer plan");
    add_model_options(cmd, *args, /*with_runtime=*/false);
    add_kv_type_option(cmd, args->kv_type);
    cmd->callback([args] {
        const Loaded l = load_model(*args);
        const ModelSpec& s = l.model->spec();
        // auto: the CPU's type here, the GPU's default beside it.
        const DType kv_type =
            parse_kv_type_option(args->kv_type).value_or(default_kv_type("cpu", *l.model));
        const int64_t kv_per_token =
            int64_t(l.plan.n_instances()) * 2 * s.kv_dim() * kv_type_bytes(kv_type);
        fmt::print("model:            {}\n", l.model->path());
        fmt::print("format:           {}\n", l.model->format());
        fmt::print("architecture:     {}\n", s.architecture);
        fmt::print("summary:          {}\n", s.summary());
        fmt::print("parameters:       {} ({:.2f} M)\n", s.n_params(), double(s.n_params()) / 1e6);
        fmt::print("dtypes:           {}\n", l.model->dtype_summary());
        fmt::print("layers:           {}\n", s.n_layers);
        fmt::print("vocabulary:       {} ({})\n", s.vocab_size,
                   l.model->has_tokenizer()
                       ? fmt::format("tokenizer {}", l.model->tokenizer().vocab_size())
                       : std::string("no tokenizer"));
        fmt::print("layer plan:       {} ({} instances{})\n", l.plan.to_spec(),
                   l.plan.n_instances(), l.plan.is_identity(int(s.n_layers)) ? ", identity" : "");
        fmt::print("weight bytes:     {}\n", l.model->weight_bytes());
        if (l.model->aligned_copy_bytes() > 0)
            fmt::print(
                "aligned copies:   {} bytes (tensors the file left off 64-byte boundaries)\n",
                l.model->aligned_copy_bytes());
        if (l.model->unaligned_bytes() > 0)
            fmt::print(
                "unaligned:        {} bytes off 64-byte boundaries, not copied (not enough free "
                "memory): slower\n",
                l.model->unaligned_bytes());
        if (args->kv_type == "auto")
            fmt::print("kv type:          {} (auto: on a GPU {})\n", dtype_name(kv_type),
                       dtype_name(default_kv_type("cuda", *l.model)));
        else
            fmt::print("kv type:          {}\n", dtype_name(kv_type));
        fmt::print("kv bytes/token:   {} ({}, {} instances x 2 x {} x {})\n", kv_per_token,
                   dtype_name(kv_type), l.plan.n_instances(), s.kv_dim(), kv_type_bytes(kv_type));
        fmt::print("identity:         {}\n", l.model->identity());
        const auto chat = find_chat_template(l.model->path());
        fmt::print("chat template:    {}\n",
                   chat ? "yes (" + chat->tmpl.origin + ")" : std::string("none"));
    });
}

}  // namespace encore::cli
