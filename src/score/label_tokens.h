// Tokens of an answer in its context, as lm-evaluation-harness defines them: the context's
// trailing whitespace moves to the front of the continuation, then the continuation's tokens are
// what encode(context + continuation) has after encode(context) — which must be a prefix of it
// (otherwise the continuation's first token merges with the context's last, and the answer has no
// tokens of its own). With a SentencePiece vocabulary this is what makes `Rating: A` score `▁A`
// as one token rather than encode(" A") = `▁` + `▁A`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace encore {

// `context` with its trailing whitespace split off: {kept, moved}.
std::pair<std::string, std::string> split_trailing_whitespace(std::string_view context);

// The continuation's tokens after `context` (no special tokens added), or nullopt when the
// context's tokens are not a prefix of the whole. `context_tokens`, when given, receives
// encode(context without its trailing whitespace).
std::optional<std::vector<int32_t>> tokens_in_context(
    const Tokenizer& tokenizer, std::string_view context, std::string_view continuation,
    std::vector<int32_t>* context_tokens = nullptr);

// Fails (invalid_argument, naming `where` and both labels) when two labels' token sequences are
// equal or one is a prefix of the other: their probabilities would overlap.
void check_label_collisions(const std::vector<std::string>& texts,
                            const std::vector<std::vector<int32_t>>& tokens,
                            const std::string& where);

// `text` as a JSON string ("\" A\""): labels with spaces or newlines in one-line messages.
std::string json_quoted(std::string_view text);

// "[12, 345]" for messages.
std::string format_ids(const std::vector<int32_t>& ids);

}  // namespace encore
