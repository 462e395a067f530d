// Chat templates: the Jinja template a model ships (tokenizer_config.json's chat_template, a
// chat_template.jinja file beside it, or the GGUF key tokenizer.chat_template) rendered over a
// conversation exactly as transformers' apply_chat_template renders it (jinja2 with
// trim_blocks, lstrip_blocks, loopcontrols, raise_exception, strftime_now and its tojson).
// This header is the whole public API of src/chat; the Jinja engine behind it is in jinja_*.h.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace encore {

struct ChatTemplate {
    std::string source;
    std::string origin;  // named in errors: a file or "GGUF tokenizer.chat_template"
};

struct ChatOptions {
    bool add_generation_prompt = false;
    std::string bos_token, eos_token;
    // tools, documents, any extra keyword. Ordered: a template's tojson writes keys in the order
    // given, as Python does (an nlohmann::json assigned here arrives with its keys sorted).
    nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

// conversation: a JSON array of messages, or {"messages": [...], "tools": [...], ...} (keys
// other than "messages" become template variables, like ChatOptions::extra, which wins).
// Parse it as nlohmann::ordered_json to keep the keys' order (tojson and printed dicts show it);
// a nlohmann::json converts implicitly, with its keys sorted.
// Template errors and raise_exception fail with a one-line message naming origin and line.
std::string render_chat(const ChatTemplate& tmpl, const nlohmann::ordered_json& conversation,
                        const ChatOptions& options);

// The model's template (HF dir: tokenizer_config.json chat_template string or list of
// {name, template}, chat_template.jinja; GGUF: tokenizer.chat_template), or override_file when
// not empty. nullopt if none.
struct ModelChat {
    ChatTemplate tmpl;
    std::string bos_token, eos_token;
};
std::optional<ModelChat> find_chat_template(const std::string& model_path,
                                            const std::string& name = "",
                                            const std::string& override_file = "");

}  // namespace encore
