// UTF-8 as the tokenizer needs it: validation with the byte offset of the first bad byte, decoding
// and encoding code points, Unicode white space (Rust's `char::is_whitespace`), and the lossy
// conversion of arbitrary bytes to text that Rust's `String::from_utf8_lossy` performs (each
// maximal invalid subsequence becomes one U+FFFD), which decoders must reproduce exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace encore::utf8 {

// Byte offset of the first byte that starts an invalid (or truncated) sequence, or nullopt when
// `text` is valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF).
std::optional<size_t> find_invalid(std::string_view text);

// Length of the valid sequence starting at text[i] (1..4), or 0 when it is not valid.
size_t valid_sequence_length(std::string_view text, size_t i);

// Decodes the code point at text[i] of valid UTF-8 and advances i past it.
char32_t next_code_point(std::string_view text, size_t& i);

// Length in bytes of the code point starting with lead byte `b` (valid UTF-8 assumed).
inline size_t sequence_length(unsigned char b) {
    return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

void append(std::string& out, char32_t cp);
std::string encode(char32_t cp);

// Rust's `char::is_whitespace`: the Unicode White_Space property.
bool is_whitespace(char32_t cp);

// Rust regex's Unicode `\w`: Alphabetic, marks, decimal digits, connector punctuation and
// Join_Control (Alphabetic approximated as letters, letter numbers and the Other_Alphabetic
// symbols outside the mark categories: circled and squared Latin letters).
bool is_word_char(char32_t cp);

// Rust's `String::from_utf8_lossy`.
std::string from_bytes_lossy(std::string_view bytes);

}  // namespace encore::utf8
