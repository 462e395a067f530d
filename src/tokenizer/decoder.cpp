// Decoders (see decoder.h).
#include "tokenizer/decoder.h"

#include "core/error.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"

namespace encore {

namespace {

// `<0xNN>` (6 bytes, two hex digits; Rust's u8::from_str_radix also takes a '+' sign).
int parse_byte_token(const std::string& t) {
    if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    int hi = hex(t[3]), lo = hex(t[4]);
    if (t[3] == '+' && lo >= 0) return lo;
    if (hi < 0 || lo < 0) return -1;
    return hi * 16 + lo;
}

std::vector<std::string> byte_level(std::vector<std::string> tokens) {
    std::string bytes;
    for (const std::string& t : tokens) {
        size_t mark = bytes.size();
        size_t i = 0;
        bool all_mapped = true;
        while (i < t.size()) {
            int b = unicode_to_byte(utf8::next_code_point(t, i));
            if (b < 0) {
                all_mapped = false;
                break;
            }
            bytes += char(b);
        }
        if (!all_mapped) {
            bytes.resize(mark);
            bytes += t;
        }
    }
    return {utf8::from_bytes_lossy(bytes)};
}

std::vector<std::string> byte_fallback(std::vector<std::string> tokens) {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&]() {
        if (pending.empty()) return;
        if (!utf8::find_invalid(pending)) {
            out.push_back(pending);
        } else {
            for (size_t k = 0; k < pending.size(); ++k) out.push_back("\xEF\xBF\xBD");
        }
        pending.clear();
    };
    for (std::string& t : tokens) {
        int b = parse_byte_token(t);
        if (b >= 0) {
            pending += char(b);
        } else {
            flush();
            out.push_back(std::move(t));
        }
    }
    flush();
    return out;
}

std::string strip_token(const std::string& t, char32_t c, int start, int stop) {
    std::vector<std::pair<size_t, char32_t>> chars;  // (byte offset, code point)
    size_t i = 0;
    while (i < t.size()) {
        size_t at = i;
        chars.emplace_back(at, utf8::next_code_point(t, i));
    }
    size_t start_cut = 0;
    for (size_t k = 0; k < chars.size() && k < size_t(start); ++k) {
        if (chars[k].second != c) break;
        start_cut = k + 1;
    }
    size_t stop_cut = chars.size();
    for (size_t k = 0; k < size_t(stop) && k < chars.size(); ++k) {
        size_t index = chars.size() - k - 1;
        if (chars[index].second != c) break;
        stop_cut = index;
    }
    if (stop_cut <= start_cut) return {};
    size_t b0 = chars[start_cut].first;
    size_t b1 = stop_cut < chars.size() ? chars[stop_cut].first : t.size();
    return t.substr(b0, b1 - b0);
}

}  // namespace

std::vector<std::string> Decoder::decode_chain(std::vector<std::string> tokens) const {
    switch (kind) {
        case Kind::byte_level:
            return byte_level(std::move(tokens));
        case Kind::replace:
            for (std::string& t : tokens) {
                t = pattern_regex.valid() ? replace_all(t, pattern_regex, content)
                                          : replace_all(t, pattern_string, content);
            }
            return tokens;
        case Kind::byte_fallback:
            return byte_fallback(std::move(tokens));
        case Kind::fuse: {
            std::string all;
            for (const std::string& t : tokens) all += t;
            return {all};
        }
        case Kind::strip:
            for (std::string& t : tokens) t = strip_token(t, strip_char, start, stop);
            return tokens;
        case Kind::metaspace:
            for (size_t k = 0; k < tokens.size(); ++k) {
                const std::string& t = tokens[k];
                std::string out;
                size_t pos = 0;
                while (pos < t.size()) {
                    if (!replacement.empty() &&
                        t.compare(pos, replacement.size(), replacement) == 0) {
                        if (!(k == 0 && prepend)) out += ' ';
                        pos += replacement.size();
                    } else {
                        out += t[pos++];
                    }
                }
                tokens[k] = std::move(out);
            }
            return tokens;
        case Kind::sequence:
            for (const Decoder& child : children) tokens = child.decode_chain(std::move(tokens));
            return tokens;
    }
    return tokens;
}

std::string decode_tokens(const Decoder* decoder, std::vector<std::string> tokens) {
    std::string out;
    if (!decoder) {
        for (size_t k = 0; k < tokens.size(); ++k) {
            if (k) out += ' ';
            out += tokens[k];
        }
        return out;
    }
    for (const std::string& t : decoder->decode_chain(std::move(tokens))) out += t;
    return out;
}

}  // namespace encore
