// Token ids of a rendered chat and a template's end-of-turn marks (see chat_tokens.h).
#include "chat/chat_tokens.h"

#include "core/error.h"

namespace encore {

std::vector<int32_t> chat_token_ids(const Tokenizer& tokenizer, const std::string& rendered) {
    std::vector<int32_t> ids = tokenizer.encode(rendered, /*add_special=*/false);
    const std::vector<int32_t>& prefix = tokenizer.prefix_ids();
    const bool has_prefix =
        ids.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), ids.begin());
    if (!has_prefix) ids.insert(ids.begin(), prefix.begin(), prefix.end());
    return ids;
}

EndOfTurn find_end_of_turn(const ModelChat& chat, const Tokenizer& tokenizer) {
    // A marker no template changes (templates trim contents), as the assistant's content.
    const std::string marker = "encore-reply-7f3a9c";
    const nlohmann::ordered_json probe = nlohmann::ordered_json::array(
        {{{"role", "user"}, {"content", "hi"}}, {{"role", "assistant"}, {"content", marker}}});
    ChatOptions options;
    options.bos_token = chat.bos_token;
    options.eos_token = chat.eos_token;
    EndOfTurn eot;
    std::string rendered;
    try {
        rendered = render_chat(chat.tmpl, probe, options);
    } catch (const Error&) {
        return eot;  // a template that refuses the probe: stop at EOS only
    }
    const size_t at = rendered.find(marker);
    if (at == std::string::npos) return eot;
    std::string after = rendered.substr(at + marker.size());
    const size_t b = after.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return eot;
    const size_t e = after.find_last_not_of(" \t\r\n");
    eot.text = after.substr(b, e - b + 1);
    const std::vector<int32_t> ids = tokenizer.encode(eot.text, false);
    if (!ids.empty() && tokenizer.is_special(ids[0])) {
        eot.token_ids.push_back(ids[0]);
        eot.text = tokenizer.decode({ids[0]}, false);
    } else {
        eot.stop_strings.push_back(eot.text);
    }
    return eot;
}

}  // namespace encore
