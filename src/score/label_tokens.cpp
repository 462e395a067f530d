// Answers tokenized in context (see label_tokens.h).
#include "score/label_tokens.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace encore {

std::pair<std::string, std::string> split_trailing_whitespace(std::string_view context) {
    size_t end = context.size();
    while (end > 0 && (context[end - 1] == ' ' || context[end - 1] == '\t' ||
                       context[end - 1] == '\n' || context[end - 1] == '\r'))
        --end;
    return {std::string(context.substr(0, end)), std::string(context.substr(end))};
}

std::optional<std::vector<int32_t>> tokens_in_context(const Tokenizer& tokenizer,
                                                      std::string_view context,
                                                      std::string_view continuation,
                                                      std::vector<int32_t>* context_tokens) {
    auto [kept, moved] = split_trailing_whitespace(context);
    const std::vector<int32_t> ctx = tokenizer.encode(kept, false);
    const std::vector<int32_t> whole =
        tokenizer.encode(kept + moved + std::string(continuation), false);
    if (context_tokens) *context_tokens = ctx;
    if (whole.size() <= ctx.size() || !std::equal(ctx.begin(), ctx.end(), whole.begin()))
        return std::nullopt;
    return std::vector<int32_t>(whole.begin() + int64_t(ctx.size()), whole.end());
}

void check_label_collisions(const std::vector<std::string>& texts,
                            const std::vector<std::vector<int32_t>>& tokens,
                            const std::string& where) {
    for (size_t a = 0; a < tokens.size(); ++a)
        for (size_t b = 0; b < tokens.size(); ++b) {
            if (a == b) continue;
            const auto& x = tokens[a];
            const auto& y = tokens[b];
            if (x.size() > y.size() || !std::equal(x.begin(), x.end(), y.begin())) continue;
            if (x.size() == y.size() && a > b) continue;  // reported once
            fail(ErrorKind::invalid_argument,
                 "{}: labels {} and {} collide: their tokens {} and {} {}", where, texts[a],
                 texts[b], format_ids(x), format_ids(y),
                 x.size() == y.size() ? "are equal" : "start alike (one is a prefix of the other)");
        }
}

std::string json_quoted(std::string_view text) {
    return nlohmann::json(std::string(text)).dump();
}

std::string format_ids(const std::vector<int32_t>& ids) {
    std::string s = "[";
    for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
    return s + "]";
}

}  // namespace encore
