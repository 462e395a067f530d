// The generation loop (see generate.h).
#include "engine/generate.h"

#include <algorithm>

#include "tokenizer/tokenizer.h"

namespace encore {

namespace {

// Length of the longest prefix of s that does not end inside a UTF-8 sequence.
size_t complete_utf8_prefix(const std::string& s) {
    size_t i = s.size();
    size_t back = 0;
    while (i > 0 && back < 4) {
        const unsigned char c = static_cast<unsigned char>(s[i - 1]);
        if ((c & 0xC0) != 0x80) {  // a lead byte (or ASCII)
            const size_t need = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : 4;
            return back + 1 >= need ? s.size() : i - 1;
        }
        --i;
        ++back;
    }
    return s.size();
}

}  // namespace

GenerateResult generate(Sequence& seq, Sampler& sampler, const GenerateOptions& options,
                        const std::function<void(const std::string&)>& on_text) {
    const Model& model = seq.engine().model();
    const Tokenizer& tok = model.tokenizer();
    std::vector<int64_t> eos = model.spec().eos_token_ids;
    for (int32_t e : tok.eos_ids()) eos.push_back(e);
    for (int32_t e : options.stop_tokens) eos.push_back(e);
    GenerateResult result;
    std::string text;   // decoded text of all generated tokens
    size_t emitted = 0; // bytes of `text` already streamed
    size_t hold = 0;    // bytes held back because they may start a stop string
    for (const auto& s : options.stop_strings) hold = std::max(hold, s.size());
    result.stop_reason = "max_tokens";
    for (int64_t i = 0; i < options.max_tokens; ++i) {
        const int32_t next = sampler.sample(seq.last_logits());
        result.tokens.push_back(next);
        if (options.stop_at_eos && std::find(eos.begin(), eos.end(), next) != eos.end()) {
            result.stop_reason = "eos";
            break;
        }
        text = tok.decode(std::vector<int32_t>(result.tokens.begin(), result.tokens.end()), true);
        size_t cut = std::string::npos;
        for (const auto& s : options.stop_strings) {
            const size_t at = text.find(s, emitted > s.size() ? emitted - s.size() : 0);
            if (!s.empty() && at != std::string::npos) cut = std::min(cut, at);
        }
        if (cut != std::string::npos) {
            text.resize(cut);
            result.stop_reason = "stop_string";
            break;
        }
        const size_t ready = complete_utf8_prefix(text);
        const size_t safe = ready > hold ? ready - hold : 0;
        if (on_text && safe > emitted) {
            on_text(text.substr(emitted, safe - emitted));
            emitted = safe;
        }
        seq.prefill(std::span(&result.tokens.back(), 1), Logits::last);
    }
    if (on_text && text.size() > emitted) on_text(text.substr(emitted));
    result.text = text;
    return result;
}

}  // namespace encore
