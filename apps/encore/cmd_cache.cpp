// `encore cache`: saved prefixes (engine/prefix_file.h) from the command line.
//   cache save -m MODEL (--text T | --tokens 1,2,3) -o FILE   compute a prefix's KV and save it
//   cache info FILE                                            what a saved prefix holds (JSON)
//   cache load -m MODEL -i FILE [--text T | --tokens ...] [-o logits.safetensors]
//                                                              load it, evaluate a continuation
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "engine/prefix_file.h"
#include "engine/sequence.h"
#include "formats/safetensors.h"
#include "tokenizer/tokenizer.h"

namespace encore::cli {

namespace {

// --text or --tokens (at most one); `bos`: whether text gets the tokenizer's BOS.
struct TokenInput {
    std::string text, tokens;
    bool has_text = false, has_tokens = false;

    void add_options(CLI::App* cmd, const std::string& text_help) {
        CLI::Option* t =
            cmd->add_option("--text", text, text_help)->each([this](const std::string&) {
                has_text = true;
            });
        CLI::Option* k = cmd->add_option("--tokens", tokens, "comma-separated token ids")
                             ->each([this](const std::string&) { has_tokens = true; });
        t->excludes(k);
    }
    bool given() const { return has_text || has_tokens; }
    std::vector<int32_t> ids(const Model& model, bool bos) const {
        if (has_tokens) return parse_token_list(tokens);
        if (has_text) return model.tokenizer().encode(text, bos);
        return {};
    }
};

nlohmann::json stats_json(const PrefixStats& s) {
    return {{"hits", s.hits},
            {"misses", s.misses},
            {"evictions", s.evictions},
            {"published", s.published}};
}

void add_cache_save(CLI::App* cache) {
    auto args = std::make_shared<ModelArgs>();
    auto input = std::make_shared<TokenInput>();
    auto out = std::make_shared<std::string>();
    CLI::App* cmd = cache->add_subcommand("save", "compute a prefix's KV cache and save it");
    add_model_options(cmd, *args);
    input->add_options(cmd, "prefix text (tokenized with BOS, as generate does)");
    cmd->add_option("-o,--output", *out, "output prefix file")->required();
    cmd->callback([args, input, out] {
        if (!input->given())
            fail(ErrorKind::invalid_argument, "cache save: give --text or --tokens");
        const Loaded loaded = load_model(*args);
        auto engine = make_engine(loaded, *args);
        const std::vector<int32_t> ids = input->ids(*loaded.model, /*bos=*/true);
        if (ids.empty()) fail(ErrorKind::invalid_argument, "cache save: the prefix has no tokens");
        const auto t0 = Clock::now();
        Sequence seq(*engine);
        seq.prefill(ids, Logits::none);
        const double seconds = seconds_since(t0);
        PrefixFile::save(seq, *out);
        const PrefixFileInfo info = PrefixFile::read_info(*out);
        std::cout << nlohmann::json{{"output", *out},
                                    {"n_tokens", seq.size()},
                                    {"bytes", info.file_bytes},
                                    {"seconds", seconds}}
                         .dump()
                  << std::endl;
    });
}

void add_cache_info(CLI::App* cache) {
    auto file = std::make_shared<std::string>();
    CLI::App* cmd = cache->add_subcommand("info", "describe a saved prefix (one JSON line)");
    cmd->add_option("file", *file, "prefix file")->required();
    cmd->callback([file] {
        const PrefixFileInfo info = PrefixFile::read_info(*file);
        std::cout << nlohmann::json{{"file", *file},
                                    {"format_version", info.version},
                                    {"model_identity", info.model_identity},
                                    {"model", info.model_name},
                                    {"plan", info.plan},
                                    {"precision", precision_name(info.precision)},
                                    {"kv_type", dtype_name(info.kv_type)},
                                    {"n_tokens", info.n_tokens},
                                    {"n_instances", info.n_instances},
                                    {"n_kv_heads", info.n_kv_heads},
                                    {"head_dim", info.head_dim},
                                    {"block_size", info.block_size},
                                    {"bytes", info.file_bytes}}
                         .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                  << std::endl;
    });
}

void add_cache_load(CLI::App* cache) {
    auto args = std::make_shared<ModelArgs>();
    auto input = std::make_shared<TokenInput>();
    auto in = std::make_shared<std::string>();
    auto out = std::make_shared<std::string>();
    CLI::App* cmd = cache->add_subcommand(
        "load", "load a saved prefix and evaluate a continuation (logits to safetensors)");
    add_model_options(cmd, *args);
    cmd->add_option("-i,--input", *in, "prefix file")->required();
    input->add_options(cmd, "continuation text (tokenized without BOS)");
    cmd->add_option("-o,--output", *out,
                    "write the continuation's logits (tensor `logits`, F32 [n, vocab])");
    cmd->callback([args, input, in, out] {
        if (!out->empty() && !input->given())
            fail(ErrorKind::invalid_argument,
                 "cache load: -o needs a continuation (--text or --tokens)");
        const Loaded loaded = load_model(*args);
        auto engine = make_engine(loaded, *args);
        const std::vector<int32_t> ids = input->ids(*loaded.model, /*bos=*/false);
        if (input->given() && ids.empty())
            fail(ErrorKind::invalid_argument, "cache load: the continuation has no tokens");
        Sequence seq(*engine);
        const auto t0 = Clock::now();
        PrefixFile::load(seq, *in);
        const double load_s = seconds_since(t0);
        const int64_t prefix = seq.size();
        double eval_s = 0;
        if (!ids.empty()) {
            const auto t1 = Clock::now();
            seq.prefill(ids, Logits::all);
            eval_s = seconds_since(t1);
        }
        if (!out->empty()) {
            const auto logits = seq.logits();  // [n_continuation, vocab]
            TensorToWrite t{
                "logits", DType::f32, {int64_t(ids.size()), engine->vocab_size()}, logits.data()};
            std::string token_list;
            for (size_t i = 0; i < ids.size(); ++i)
                token_list += (i ? "," : "") + std::to_string(ids[i]);
            write_safetensors(*out, {t},
                              {{"model", loaded.model->path()},
                               {"layers", loaded.plan.to_spec()},
                               {"prefix_file", *in},
                               {"prefix_tokens", std::to_string(prefix)},
                               {"tokens", token_list}});
        }
        nlohmann::json j = {{"prefix_tokens", prefix},
                            {"evaluated", ids.size()},
                            {"load_seconds", load_s},
                            {"eval_seconds", eval_s},
                            {"prefix_cache", stats_json(engine->kv().stats())}};
        if (!out->empty()) j["output"] = *out;
        std::cout << j.dump() << std::endl;
    });
}

}  // namespace

void add_cache(CLI::App& app) {
    CLI::App* cache = app.add_subcommand("cache", "saved prefixes: KV caches kept in files");
    cache->require_subcommand(1);
    add_cache_save(cache);
    add_cache_info(cache);
    add_cache_load(cache);
}

}  // namespace encore::cli
