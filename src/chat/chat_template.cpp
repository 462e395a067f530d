// render_chat: builds the variables transformers passes to a chat template (messages, tools and
// documents as None unless given, add_generation_prompt, bos_token/eos_token when set, extra
// keywords winning over all of these) and renders it. Compiled templates are kept in a small
// cache keyed by their source, so a server or scorer rendering many conversations parses once.
#include "chat/chat_template.h"

#include <memory>
#include <mutex>
#include <unordered_map>

#include "chat/jinja_builtins.h"
#include "chat/jinja_lexer.h"
#include "chat/jinja_renderer.h"
#include "core/error.h"

namespace encore {

namespace {

// One line: newlines in a message shown as \n.
std::string one_line(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '\n')
            out += "\\n";
        else if (c == '\r')
            out += "\\r";
        else
            out += c;
    }
    return out;
}

std::shared_ptr<const jinja::Template> compile(const ChatTemplate& tmpl) {
    static std::mutex mutex;
    static std::unordered_map<std::string, std::shared_ptr<const jinja::Template>> cache;
    {
        std::lock_guard<std::mutex> lock(mutex);
        const auto it = cache.find(tmpl.source);
        if (it != cache.end()) return it->second;
    }
    std::shared_ptr<const jinja::Template> t;
    try {
        t = std::make_shared<const jinja::Template>(tmpl.source);
    } catch (const jinja::SyntaxError& e) {
        fail(ErrorKind::format, "{}:{}: chat template syntax error: {}", tmpl.origin, e.line, one_line(e.what()));
    }
    std::lock_guard<std::mutex> lock(mutex);
    if (cache.size() >= 32) cache.clear();
    cache.emplace(tmpl.source, t);
    return t;
}

}  // namespace

std::string render_chat(const ChatTemplate& tmpl, const nlohmann::ordered_json& conversation, const ChatOptions& options) {
    if (!conversation.is_array() && !(conversation.is_object() && conversation.contains("messages")))
        fail(ErrorKind::invalid_argument, "conversation must be an array of messages or an object with \"messages\"");
    const nlohmann::ordered_json& messages = conversation.is_array() ? conversation : conversation["messages"];
    if (!messages.is_array()) fail(ErrorKind::invalid_argument, "conversation: \"messages\" must be an array");
    const auto compiled = compile(tmpl);

    jinja::Dict vars;
    jinja::add_globals(vars);
    vars.set("messages", jinja::Value::from_json(messages));
    vars.set("tools", jinja::Value::none());
    vars.set("documents", jinja::Value::none());
    vars.set("add_generation_prompt", jinja::Value(options.add_generation_prompt));
    if (!options.bos_token.empty()) vars.set("bos_token", jinja::Value(options.bos_token));
    if (!options.eos_token.empty()) vars.set("eos_token", jinja::Value(options.eos_token));
    if (conversation.is_object())
        for (auto it = conversation.begin(); it != conversation.end(); ++it)
            if (it.key() != "messages") vars.set(it.key(), jinja::Value::from_json(it.value()));
    if (options.extra.is_object())
        for (auto it = options.extra.begin(); it != options.extra.end(); ++it)
            vars.set(it.key(), jinja::Value::from_json(it.value()));

    int line = 0;
    try {
        return compiled->render(vars, &line);
    } catch (const jinja::RaisedError& e) {
        fail(ErrorKind::invalid_argument, "{}:{}: the chat template raised an exception: {}", tmpl.origin, line,
             one_line(e.what()));
    } catch (const jinja::RenderError& e) {
        fail(ErrorKind::invalid_argument, "{}:{}: chat template error: {}", tmpl.origin, line, one_line(e.what()));
    }
}

}  // namespace encore
