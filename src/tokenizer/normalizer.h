// Normalizers of tokenizer.json, applied to each piece of the input that is not an added token
// (as `tokenizers` does): Unicode forms (NFC, NFD, NFKC, NFKD, through utf8proc), Prepend,
// Replace (string or regex pattern), Lowercase, Strip, and Sequence of these.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.h"

namespace encore {

struct Normalizer {
    enum class Kind { nfc, nfd, nfkc, nfkd, prepend, replace, lowercase, strip, sequence };
    Kind kind = Kind::sequence;
    std::string content;         // prepend: the prefix; replace: the replacement
    std::string pattern_string;  // replace with a String pattern (empty: use regex)
    Regex pattern_regex;         // replace with a Regex pattern
    bool strip_left = false, strip_right = false;
    std::vector<Normalizer> children;  // sequence

    // Returns the normalized form of `text` (valid UTF-8).
    std::string apply(std::string_view text) const;
};

// Unicode normalization of valid UTF-8 (form: "NFC", "NFD", "NFKC", "NFKD").
std::string unicode_normalize(std::string_view text, Normalizer::Kind form);

// Replaces every non-overlapping occurrence of `pattern` (left to right) with `content`.
std::string replace_all(std::string_view text, std::string_view pattern, std::string_view content);
std::string replace_all(std::string_view text, const Regex& pattern, std::string_view content);

}  // namespace encore
