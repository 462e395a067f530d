// From a rendered chat to what a model consumes and where its turn ends: token ids of a
// rendering (special tokens in the text parsed, the tokenizer's BOS added unless the template
// already wrote it), and the end-of-turn marks of a template, found by rendering a probe
// conversation and reading what the template writes right after an assistant's content.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace encore {

// encode(text, add_special=false), preceded by the tokenizer's prefix ids (BOS) unless the
// ids already start with them.
std::vector<int32_t> chat_token_ids(const Tokenizer& tokenizer, const std::string& rendered);

struct EndOfTurn {
    std::string text;  // what the template writes after an assistant's content (whitespace
                       // trimmed; its first token when that is special), e.g. "<|im_end|>"
    std::vector<int32_t> token_ids;         // its token when it is one special token
    std::vector<std::string> stop_strings;  // otherwise the text itself
};
EndOfTurn find_end_of_turn(const ModelChat& chat, const Tokenizer& tokenizer);

}  // namespace encore
