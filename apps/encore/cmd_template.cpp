// `encore template`: renders a conversation (a JSON file: an array of messages, or an object
// with "messages" and other template variables such as "tools") with a model's chat template,
// as transformers' apply_chat_template renders it, to stdout; or its token ids with --ids.
#include <fstream>
#include <iostream>
#include <sstream>

#include "chat/chat_template.h"
#include "chat/chat_tokens.h"
#include "commands.h"
#include "common.h"
#include "core/error.h"
#include "model/model.h"

namespace encore::cli {

static nlohmann::ordered_json read_conversation(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(ErrorKind::io, "cannot open messages file {}", path);
    std::ostringstream ss;
    ss << in.rdbuf();
    nlohmann::ordered_json conversation;
    try {
        conversation = nlohmann::ordered_json::parse(ss.str());
    } catch (const nlohmann::json::exception& e) {
        fail(ErrorKind::format, "{}: bad JSON: {}", path, e.what());
    }
    const bool ok =
        conversation.is_array() || (conversation.is_object() && conversation.contains("messages") &&
                                    conversation["messages"].is_array());
    if (!ok)
        fail(ErrorKind::format,
             "{}: expected an array of messages or an object with a \"messages\" array", path);
    const auto& messages = conversation.is_array() ? conversation : conversation["messages"];
    for (size_t i = 0; i < messages.size(); ++i)
        if (!messages[i].is_object() || !messages[i].contains("role"))
            fail(ErrorKind::format, "{}: message {} is not an object with a \"role\"", path, i);
    return conversation;
}

static ModelChat require_chat_template(const std::string& model, const std::string& name,
                                       const std::string& file) {
    const auto chat = find_chat_template(model, name, file);
    if (!chat)
        fail(ErrorKind::invalid_argument,
             "{} has no chat template (give one with --chat-template FILE)", model);
    return *chat;
}

void add_template(CLI::App& app) {
    struct Options {
        std::string model, messages, template_file, template_name;
        bool add_generation_prompt = false, ids = false;
    };
    auto o = std::make_shared<Options>();
    CLI::App* cmd =
        app.add_subcommand("template", "render a conversation with the model's chat template");
    cmd->add_option("-m,--model", o->model, "HF model directory or .gguf file")->required();
    cmd->add_option("--messages", o->messages,
                    "JSON file: [messages] or {\"messages\": [...], \"tools\": ...}")
        ->required();
    cmd->add_flag("--add-generation-prompt", o->add_generation_prompt,
                  "end with the assistant's turn opening");
    cmd->add_flag("--ids", o->ids, "print the token ids ({\"ids\": [...]}) instead of the text");
    cmd->add_option("--chat-template", o->template_file,
                    "a Jinja file used instead of the model's template");
    cmd->add_option("--chat-template-name", o->template_name,
                    "a named template of tokenizer_config.json (e.g. tool_use)");
    cmd->callback([o] {
        const ModelChat chat = require_chat_template(o->model, o->template_name, o->template_file);
        const nlohmann::ordered_json conversation = read_conversation(o->messages);
        ChatOptions options;
        options.add_generation_prompt = o->add_generation_prompt;
        options.bos_token = chat.bos_token;
        options.eos_token = chat.eos_token;
        const std::string text = render_chat(chat.tmpl, conversation, options);
        if (!o->ids) {
            std::cout << text;
            return;
        }
        const auto model = Model::load(o->model);
        std::cout << nlohmann::json{{"ids", chat_token_ids(model->tokenizer(), text)}}.dump()
                  << '\n';
    });
}

}  // namespace encore::cli
