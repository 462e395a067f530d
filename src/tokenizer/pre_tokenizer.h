// Pre-tokenizers of tokenizer.json: they cut a normalized piece of text into the words that the
// BPE model encodes one at a time. Split (regex or string pattern, with the five delimiter
// behaviors and `invert`), ByteLevel (bytes mapped to printable characters, optional GPT-2 regex
// and prefix space), Metaspace, Digits, WhitespaceSplit, and Sequence. Also the byte <-> char
// table of byte-level BPE, shared with the ByteLevel decoder.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace encore {

// A piece of text on its way to the model; `at_start` tells whether it begins at offset 0 of the
// original text (Metaspace's prepend_scheme "first" needs it).
struct Piece {
    std::string text;
    bool at_start = false;
};

enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

// Regexes of the pre-tokenizers that GGUF names by `tokenizer.ggml.pre`.
extern const char* const k_gpt2_regex;
extern const char* const k_llama3_regex;
extern const char* const k_qwen2_regex;

struct PreTokenizer {
    enum class Kind { split, byte_level, metaspace, digits, whitespace_split, sequence };
    Kind kind = Kind::sequence;
    // split
    Regex pattern;
    SplitBehavior behavior = SplitBehavior::isolated;
    bool invert = false;
    // byte_level
    bool add_prefix_space = false;
    bool use_regex = true;
    // metaspace
    std::string replacement = "\xE2\x96\x81";  // U+2581
    enum class Prepend { always, first, never } prepend_scheme = Prepend::always;
    bool split_on_replacement = true;
    // digits
    bool individual_digits = false;
    // sequence
    std::vector<PreTokenizer> children;

    // Replaces `pieces` by their sub-pieces (empty ones dropped).
    void apply(std::vector<Piece>& pieces) const;

  private:
    std::string replace_all_spaces(std::string_view text) const;
};

// Splits `text` at the given matches (sorted, non-overlapping byte ranges) with `behavior`.
std::vector<std::string_view> split_by_matches(
    std::string_view text, const std::vector<std::pair<size_t, size_t>>& matches,
    SplitBehavior behavior, bool invert);

// Byte-level BPE's reversible map from bytes to printable characters ("Ġ" for a space).
const std::array<std::string, 256>& byte_to_unicode();
// The inverse, as code point -> byte, or -1 for characters outside the map.
int unicode_to_byte(char32_t cp);
// Maps every byte of `text` to its character.
std::string byte_level_encode(std::string_view text);

}  // namespace encore
