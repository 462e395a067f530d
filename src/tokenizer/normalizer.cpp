// Normalizers (see normalizer.h). Unicode normalization and case mapping come from utf8proc.
#include "tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace encore {

std::string unicode_normalize(std::string_view text, Normalizer::Kind form) {
    if (text.empty()) return {};
    // ASCII is unchanged by every normalization form.
    bool ascii = true;
    for (char c : text) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            ascii = false;
            break;
        }
    }
    if (ascii) return std::string(text);
    int options = UTF8PROC_STABLE;
    switch (form) {
        case Normalizer::Kind::nfc:
            options |= UTF8PROC_COMPOSE;
            break;
        case Normalizer::Kind::nfd:
            options |= UTF8PROC_DECOMPOSE;
            break;
        case Normalizer::Kind::nfkc:
            options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
            break;
        case Normalizer::Kind::nfkd:
            options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
            break;
        default:
            ENCORE_ASSERT(false);
    }
    utf8proc_uint8_t* result = nullptr;
    utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                     utf8proc_ssize_t(text.size()), &result, utf8proc_option_t(options));
    if (n < 0) {
        fail(ErrorKind::invalid_argument, "unicode normalization failed: {}", utf8proc_errmsg(n));
    }
    std::string out(reinterpret_cast<const char*>(result), size_t(n));
    std::free(result);
    return out;
}

std::string replace_all(std::string_view text, std::string_view pattern, std::string_view content) {
    if (pattern.empty()) return std::string(text);
    std::string out;
    out.reserve(text.size());
    size_t pos = 0;
    while (true) {
        size_t hit = text.find(pattern, pos);
        if (hit == std::string_view::npos) break;
        out.append(text.substr(pos, hit - pos));
        out.append(content);
        pos = hit + pattern.size();
    }
    out.append(text.substr(pos));
    return out;
}

std::string replace_all(std::string_view text, const Regex& pattern, std::string_view content) {
    std::string out;
    size_t pos = 0;
    for (auto [s, e] : pattern.find_all(text)) {
        out.append(text.substr(pos, s - pos));
        out.append(content);
        pos = e;
    }
    out.append(text.substr(pos));
    return out;
}

namespace {

std::string lowercase(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        char32_t cp = utf8::next_code_point(text, i);
        // Rust's str::to_lowercase maps U+0130 to "i\u0307"; utf8proc gives the simple mapping.
        if (cp == 0x130) {
            out += "i\xCC\x87";
            continue;
        }
        utf8::append(out, char32_t(utf8proc_tolower(utf8proc_int32_t(cp))));
    }
    return out;
}

std::string strip(std::string_view text, bool left, bool right) {
    size_t begin = 0, end = text.size();
    if (left) {
        size_t i = 0;
        while (i < text.size()) {
            size_t at = i;
            if (!utf8::is_whitespace(utf8::next_code_point(text, i))) {
                begin = at;
                break;
            }
            begin = i;
        }
    }
    if (right) {
        size_t i = begin, last_end = begin;
        while (i < text.size()) {
            if (!utf8::is_whitespace(utf8::next_code_point(text, i))) last_end = i;
        }
        end = last_end;
    }
    return std::string(text.substr(begin, end - begin));
}

}  // namespace

std::string Normalizer::apply(std::string_view text) const {
    switch (kind) {
        case Kind::nfc:
        case Kind::nfd:
        case Kind::nfkc:
        case Kind::nfkd:
            return unicode_normalize(text, kind);
        case Kind::prepend:
            if (text.empty()) return {};
            return content + std::string(text);
        case Kind::replace:
            if (pattern_regex.valid()) return replace_all(text, pattern_regex, content);
            return replace_all(text, pattern_string, content);
        case Kind::lowercase:
            return lowercase(text);
        case Kind::strip:
            return strip(text, strip_left, strip_right);
        case Kind::sequence: {
            std::string s(text);
            for (const Normalizer& child : children) s = child.apply(s);
            return s;
        }
    }
    return std::string(text);
}

}  // namespace encore
