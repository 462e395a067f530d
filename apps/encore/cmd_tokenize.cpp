// `encore tokenize` and `encore detokenize`: text <-> token ids with a model's tokenizer or a
// tokenizer.json file, for one --text/--ids value or JSON lines on stdin.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace encore::cli {

namespace {

struct TokenizerArgs {
    std::string model, tokenizer_file;
};

void add_tokenizer_source(CLI::App* cmd, TokenizerArgs& args) {
    auto* m = cmd->add_option("-m,--model", args.model, "HF model directory or .gguf file");
    auto* t = cmd->add_option("--tokenizer", args.tokenizer_file, "tokenizer.json (or .json.gz)");
    m->excludes(t);
    t->excludes(m);
}

// Keeps the model alive when the tokenizer comes from it.
struct TokenizerSource {
    std::shared_ptr<Model> model;
    std::shared_ptr<Tokenizer> own;
    const Tokenizer& get() const { return model ? model->tokenizer() : *own; }
};

TokenizerSource open_tokenizer(const TokenizerArgs& args) {
    TokenizerSource s;
    if (!args.model.empty()) {
        s.model = Model::load(args.model);
    } else if (!args.tokenizer_file.empty()) {
        s.own = std::make_shared<Tokenizer>(Tokenizer::from_file(args.tokenizer_file));
    } else {
        fail(ErrorKind::invalid_argument, "give a tokenizer with -m MODEL or --tokenizer FILE");
    }
    return s;
}

// Reads JSON lines from stdin, calling fn(object, line_number) for each non-empty line.
template <typename F>
void for_each_json_line(F&& fn) {
    std::string line;
    int64_t line_no = 0;
    while (std::getline(std::cin, line)) {
        ++line_no;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        nlohmann::json obj = nlohmann::json::parse(line, nullptr, false);
        if (obj.is_discarded() || !obj.is_object())
            fail(ErrorKind::invalid_argument, "stdin line {}: not a JSON object", line_no);
        fn(obj, line_no);
    }
}

}  // namespace

void add_tokenize(CLI::App& app) {
    auto args = std::make_shared<TokenizerArgs>();
    auto text = std::make_shared<std::string>();
    auto no_special = std::make_shared<bool>(false);
    auto has_text = std::make_shared<bool>(false);
    CLI::App* cmd = app.add_subcommand(
        "tokenize", "text -> token ids (--text, or JSON lines {\"text\": ...} on stdin)");
    add_tokenizer_source(cmd, *args);
    cmd->add_option("--text", *text, "text to tokenize")->each([has_text](const std::string&) {
        *has_text = true;
    });
    cmd->add_flag("--no-special", *no_special, "do not add BOS/EOS (the post-processor's tokens)");
    cmd->callback([args, text, no_special, has_text] {
        const TokenizerSource src = open_tokenizer(*args);
        const Tokenizer& tok = src.get();
        auto emit = [&](const std::string& t) {
            const std::vector<int32_t> ids = tok.encode(t, !*no_special);
            std::cout << nlohmann::json{{"ids", ids}}.dump() << '\n';
        };
        if (*has_text) {
            emit(*text);
            return;
        }
        for_each_json_line([&](const nlohmann::json& obj, int64_t line_no) {
            auto it = obj.find("text");
            if (it == obj.end() || !it->is_string())
                fail(ErrorKind::invalid_argument, "stdin line {}: expected {{\"text\": \"...\"}}",
                     line_no);
            emit(it->get<std::string>());
        });
    });
}

void add_detokenize(CLI::App& app) {
    auto args = std::make_shared<TokenizerArgs>();
    auto ids_text = std::make_shared<std::string>();
    auto skip_special = std::make_shared<bool>(false);
    CLI::App* cmd = app.add_subcommand(
        "detokenize", "token ids -> text (--ids 1,2,3, or JSON lines {\"ids\": [...]} on stdin)");
    add_tokenizer_source(cmd, *args);
    cmd->add_option("--ids", *ids_text, "comma-separated token ids");
    cmd->add_flag("--skip-special", *skip_special, "leave special tokens out of the text");
    cmd->callback([args, ids_text, skip_special] {
        const TokenizerSource src = open_tokenizer(*args);
        const Tokenizer& tok = src.get();
        auto emit = [&](const std::vector<int32_t>& ids) {
            std::cout << nlohmann::json{{"text", tok.decode(ids, *skip_special)}}.dump(
                             -1, ' ', false, nlohmann::json::error_handler_t::replace)
                      << '\n';
        };
        if (!ids_text->empty()) {
            emit(parse_token_list(*ids_text));
            return;
        }
        for_each_json_line([&](const nlohmann::json& obj, int64_t line_no) {
            auto it = obj.find("ids");
            if (it == obj.end() || !it->is_array())
                fail(ErrorKind::invalid_argument, "stdin line {}: expected {{\"ids\": [...]}}",
                     line_no);
            std::vector<int32_t> ids;
            for (const auto& v : *it) {
                if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
                    fail(ErrorKind::invalid_argument, "stdin line {}: {} is not a token id",
                         line_no, v.dump());
                ids.push_back(v.get<int32_t>());
            }
            emit(ids);
        });
    });
}

}  // namespace encore::cli
