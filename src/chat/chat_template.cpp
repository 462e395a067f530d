// render_chat: builds the variables transformers passes to a chat template (messages, tools,
// documents, add_generation_prompt, bos_token, eos_token, extra keywords) and renders it.
#include "chat/chat_template.h"

#include "chat/jinja_value.h"
#include "core/error.h"

namespace encore {

std::string render_chat(const ChatTemplate& tmpl, const nlohmann::json& conversation,
                        const ChatOptions& options) {
    if (!conversation.is_array() &&
        !(conversation.is_object() && conversation.contains("messages")))
        fail(ErrorKind::invalid_argument,
             "conversation must be an array of messages or an object with \"messages\"");
    // The Jinja lexer, parser and renderer are not written yet.
    fail(ErrorKind::unsupported, "{}: rendering chat templates is not implemented yet",
         tmpl.origin);
}

}  // namespace encore
