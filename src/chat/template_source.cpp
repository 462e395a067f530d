// Where a model's chat template comes from: an override file, an HF directory's
// tokenizer_config.json (chat_template as a string, or a list of {name, template} where
// "default" is used unless a name is asked for) or chat_template.jinja beside it, or a GGUF
// file's tokenizer.chat_template key. Also the BOS/EOS token texts the template is given.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/chat_template.h"
#include "core/error.h"
#include "formats/gguf.h"

namespace encore {

static std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(ErrorKind::io, "cannot open chat template file {}", path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A special token in tokenizer_config.json: a string or {"content": ...}.
static std::string token_text(const nlohmann::json& config, const char* key) {
    if (!config.contains(key)) return "";
    const auto& t = config[key];
    if (t.is_string()) return t.get<std::string>();
    if (t.is_object() && t.contains("content") && t["content"].is_string())
        return t["content"].get<std::string>();
    return "";
}

std::optional<ModelChat> find_chat_template(const std::string& model_path, const std::string& name,
                                            const std::string& override_file) {
    namespace fs = std::filesystem;
    ModelChat chat;
    bool found = false;
    if (fs::is_directory(model_path)) {
        const fs::path dir(model_path);
        const fs::path config_path = dir / "tokenizer_config.json";
        nlohmann::json config = nlohmann::json::object();
        if (fs::exists(config_path)) {
            try {
                config = nlohmann::json::parse(read_text(config_path.string()));
            } catch (const nlohmann::json::exception& e) {
                fail(ErrorKind::format, "{}: bad JSON: {}", config_path.string(), e.what());
            }
            chat.bos_token = token_text(config, "bos_token");
            chat.eos_token = token_text(config, "eos_token");
        }
        const auto ct = config.find("chat_template");
        if (ct != config.end() && ct->is_string()) {
            if (!name.empty() && override_file.empty())
                fail(ErrorKind::invalid_argument, "{}: one chat template, no template named '{}'",
                     config_path.string(), name);
            chat.tmpl = {ct->get<std::string>(), config_path.string()};
            found = true;
        } else if (ct != config.end() && ct->is_array()) {
            const std::string want = name.empty() ? "default" : name;
            std::string names;
            for (const auto& e : *ct) {
                if (!e.is_object() || !e.contains("name") || !e.contains("template")) continue;
                names += (names.empty() ? "" : ", ") + e["name"].get<std::string>();
                if (e["name"] == want) {
                    chat.tmpl = {e["template"].get<std::string>(),
                                 config_path.string() + " (" + want + ")"};
                    found = true;
                }
            }
            if (!found && !name.empty() && override_file.empty())
                fail(ErrorKind::invalid_argument, "{}: no chat template named '{}' (has: {})",
                     config_path.string(), name, names);
        }
        const fs::path jinja = dir / "chat_template.jinja";
        if (!found && fs::exists(jinja)) {
            chat.tmpl = {read_text(jinja.string()), jinja.string()};
            found = true;
        }
    } else if (fs::exists(model_path)) {
        const GgufFile gguf = GgufFile::open(model_path);
        if (gguf.has("tokenizer.chat_template")) {
            chat.tmpl = {gguf.get_string("tokenizer.chat_template"),
                         "GGUF tokenizer.chat_template"};
            found = true;
        }
        if (gguf.has("tokenizer.ggml.tokens")) {
            const auto tokens = gguf.get_string_array("tokenizer.ggml.tokens");
            auto text = [&](const char* key) -> std::string {
                if (!gguf.has(key)) return "";
                const int64_t id = gguf.get_int(key);
                return id >= 0 && id < int64_t(tokens.size()) ? tokens[size_t(id)] : "";
            };
            chat.bos_token = text("tokenizer.ggml.bos_token_id");
            chat.eos_token = text("tokenizer.ggml.eos_token_id");
        }
    }
    if (!override_file.empty()) {
        chat.tmpl = {read_text(override_file), override_file};
        found = true;
    }
    if (!found) return std::nullopt;
    return chat;
}

}  // namespace encore
