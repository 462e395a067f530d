// The generation loop and its step-wise form (see generate.h).
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

Generation::Generation(const Model& model, GenerateOptions options)
    : tokenizer_(model.tokenizer()),
      options_(std::move(options)),
      eos_(model.spec().eos_token_ids) {
    for (int32_t e : tokenizer_.eos_ids()) eos_.push_back(e);
    for (int32_t e : options_.stop_tokens) eos_.push_back(e);
    for (const auto& s : options_.stop_strings) hold_ = std::max(hold_, s.size());
    result_.stop_reason = "max_tokens";
}

std::string Generation::push(int32_t next) {
    result_.tokens.push_back(next);
    if (options_.stop_at_eos && std::find(eos_.begin(), eos_.end(), next) != eos_.end()) {
        result_.stop_reason = "eos";
        stopped_ = true;
        return {};
    }
    std::string& text = result_.text;
    text = tokenizer_.decode(result_.tokens, true);
    size_t cut = std::string::npos;
    for (const auto& s : options_.stop_strings) {
        const size_t at = text.find(s, emitted_ > s.size() ? emitted_ - s.size() : 0);
        if (!s.empty() && at != std::string::npos) cut = std::min(cut, at);
    }
    if (cut != std::string::npos) {
        text.resize(cut);
        result_.stop_reason = "stop_string";
        stopped_ = true;
        return {};
    }
    const size_t ready = complete_utf8_prefix(text);
    const size_t safe = ready > hold_ ? ready - hold_ : 0;
    if (safe <= emitted_) return {};
    std::string piece = text.substr(emitted_, safe - emitted_);
    emitted_ = safe;
    return piece;
}

std::string Generation::flush() {
    const std::string& text = result_.text;
    std::string rest = text.size() > emitted_ ? text.substr(emitted_) : std::string();
    emitted_ = text.size();
    return rest;
}

GenerateResult generate(Sequence& seq, Sampler& sampler, const GenerateOptions& options,
                        const std::function<void(const std::string&)>& on_text) {
    Generation gen(seq.engine().model(), options);
    while (!gen.done()) {
        const int32_t next = sampler.sample(seq.last_logits());
        const std::string piece = gen.push(next);
        if (on_text && !piece.empty()) on_text(piece);
        if (gen.stopped()) break;
        seq.prefill(std::span(&next, 1), Logits::last);
    }
    const std::string rest = gen.flush();
    if (on_text && !rest.empty()) on_text(rest);
    return gen.result();
}

}  // namespace encore
