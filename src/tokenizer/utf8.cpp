// UTF-8 validation, code points and lossy conversion (see utf8.h).
#include "tokenizer/utf8.h"

#include <utf8proc.h>

namespace encore::utf8 {

namespace {

// How many leading bytes of the sequence at text[i] form a valid prefix (the "maximal subpart"
// of Unicode's U+FFFD substitution practice), and whether the whole sequence is complete.
struct Prefix {
    size_t n_valid;  // bytes consumed (>= 1)
    bool complete;
};

Prefix scan(std::string_view text, size_t i) {
    auto byte = [&](size_t k) -> int {
        return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : -1;
    };
    int b0 = byte(0);
    if (b0 < 0x80) return {1, true};
    int need;
    int lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return {1, false};
    }
    for (int k = 1; k <= need; ++k) {
        int b = byte(size_t(k));
        int l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (b < l || b > h) return {size_t(k), false};
    }
    return {size_t(need) + 1, true};
}

}  // namespace

size_t valid_sequence_length(std::string_view text, size_t i) {
    Prefix p = scan(text, i);
    return p.complete ? p.n_valid : 0;
}

std::optional<size_t> find_invalid(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
        // Fast path over ASCII.
        if (static_cast<unsigned char>(text[i]) < 0x80) {
            ++i;
            continue;
        }
        Prefix p = scan(text, i);
        if (!p.complete) return i;
        i += p.n_valid;
    }
    return std::nullopt;
}

char32_t next_code_point(std::string_view text, size_t& i) {
    auto b = [&](size_t k) { return char32_t(static_cast<unsigned char>(text[i + k])); };
    char32_t c0 = b(0);
    char32_t cp;
    if (c0 < 0x80) {
        cp = c0;
        i += 1;
    } else if (c0 < 0xE0) {
        cp = ((c0 & 0x1F) << 6) | (b(1) & 0x3F);
        i += 2;
    } else if (c0 < 0xF0) {
        cp = ((c0 & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
        i += 3;
    } else {
        cp = ((c0 & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
        i += 4;
    }
    return cp;
}

void append(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

std::string encode(char32_t cp) {
    std::string s;
    append(s, cp);
    return s;
}

bool is_whitespace(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

bool is_word_char(char32_t c) {
    if (c < 0x80) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
    }
    if (c == 0x200C || c == 0x200D) return true;  // Join_Control
    if (c >= 0x24B6 && c <= 0x24E9) return true;  // circled Latin letters
    if (c >= 0x1F130 && c <= 0x1F189 && !(c >= 0x1F14A && c <= 0x1F14F)) return true;
    switch (utf8proc_category(utf8proc_int32_t(c))) {
        case UTF8PROC_CATEGORY_LU:
        case UTF8PROC_CATEGORY_LL:
        case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM:
        case UTF8PROC_CATEGORY_LO:
        case UTF8PROC_CATEGORY_NL:
        case UTF8PROC_CATEGORY_MN:
        case UTF8PROC_CATEGORY_MC:
        case UTF8PROC_CATEGORY_ME:
        case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_PC:
            return true;
        default:
            return false;
    }
}

std::string from_bytes_lossy(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size());
    size_t i = 0;
    while (i < bytes.size()) {
        Prefix p = scan(bytes, i);
        if (p.complete) {
            out.append(bytes.data() + i, p.n_valid);
        } else {
            out += "\xEF\xBF\xBD";  // U+FFFD
        }
        i += p.n_valid;
    }
    return out;
}

}  // namespace encore::utf8
