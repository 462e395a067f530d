// Decoders of tokenizer.json: they turn the token strings of an id list back into text, as
// `tokenizers`' decoders do (each step maps the list of token strings to a new list; the
// results are joined). ByteLevel (characters back to bytes, invalid UTF-8 replaced as Rust's
// from_utf8_lossy), Replace, ByteFallback (`<0xNN>` runs to bytes), Fuse, Strip, Metaspace,
// and Sequence.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/regex.h"

namespace encore {

struct Decoder {
    enum class Kind { byte_level, replace, byte_fallback, fuse, strip, metaspace, sequence };
    Kind kind = Kind::sequence;
    // replace
    std::string pattern_string;
    Regex pattern_regex;
    std::string content;
    // strip: `strip_char` removed up to `start` times from the left, `stop` from the right
    char32_t strip_char = U' ';
    int start = 0, stop = 0;
    // metaspace
    std::string replacement = "\xE2\x96\x81";
    bool prepend = true;  // prepend_scheme != never: drop the replacement in the first token
    std::vector<Decoder> children;

    // One decoding step over the token strings.
    std::vector<std::string> decode_chain(std::vector<std::string> tokens) const;
};

// Decodes token strings into text: the decoder's chain joined, or the tokens joined by spaces
// when there is no decoder (as `tokenizers` does).
std::string decode_tokens(const Decoder* decoder, std::vector<std::string> tokens);

}  // namespace encore
