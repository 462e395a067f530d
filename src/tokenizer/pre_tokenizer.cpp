// Pre-tokenizers (see pre_tokenizer.h), following `tokenizers`' definitions: a pattern's matches
// and the gaps between them cover the whole text, the delimiter behavior decides how matches join
// the gaps, and empty pieces are dropped.
#include "tokenizer/pre_tokenizer.h"

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace encore {

const char* const k_gpt2_regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char* const k_llama3_regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const k_qwen2_regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

namespace {

struct Span {
    size_t begin, end;
    bool is_match;
};

const Regex& gpt2_regex() {
    static const Regex regex = Regex::compile(k_gpt2_regex, "ByteLevel pre-tokenizer");
    return regex;
}

// Matches of a character predicate: every matching character is a match of its own.
template <typename Pred>
std::vector<std::pair<size_t, size_t>> char_matches(std::string_view text, Pred pred) {
    std::vector<std::pair<size_t, size_t>> out;
    size_t i = 0;
    while (i < text.size()) {
        size_t at = i;
        if (pred(utf8::next_code_point(text, i))) out.emplace_back(at, i);
    }
    return out;
}

std::vector<std::pair<size_t, size_t>> literal_matches(std::string_view text,
                                                       std::string_view needle) {
    std::vector<std::pair<size_t, size_t>> out;
    if (needle.empty()) return out;
    size_t pos = 0;
    while ((pos = text.find(needle, pos)) != std::string_view::npos) {
        out.emplace_back(pos, pos + needle.size());
        pos += needle.size();
    }
    return out;
}

}  // namespace

std::vector<std::string_view> split_by_matches(
    std::string_view text, const std::vector<std::pair<size_t, size_t>>& matches,
    SplitBehavior behavior, bool invert) {
    // Matches and gaps covering the text.
    std::vector<Span> spans;
    if (text.empty()) {
        spans.push_back({0, 0, false});
    } else {
        size_t prev = 0;
        for (auto [s, e] : matches) {
            if (prev != s) spans.push_back({prev, s, false});
            spans.push_back({s, e, true});
            prev = e;
        }
        if (prev != text.size()) spans.push_back({prev, text.size(), false});
    }
    if (invert) {
        for (Span& s : spans) s.is_match = !s.is_match;
    }
    // Each output split: (begin, end, removed).
    struct Out {
        size_t begin, end;
        bool remove;
    };
    std::vector<Out> outs;
    switch (behavior) {
        case SplitBehavior::isolated:
            for (const Span& s : spans) outs.push_back({s.begin, s.end, false});
            break;
        case SplitBehavior::removed:
            for (const Span& s : spans) outs.push_back({s.begin, s.end, s.is_match});
            break;
        case SplitBehavior::contiguous: {
            bool previous_match = false;
            for (const Span& s : spans) {
                if (s.is_match == previous_match && !outs.empty()) {
                    outs.back().end = s.end;
                } else {
                    outs.push_back({s.begin, s.end, false});
                }
                previous_match = s.is_match;
            }
            break;
        }
        case SplitBehavior::merged_with_previous: {
            bool previous_match = false;
            for (const Span& s : spans) {
                if (s.is_match && !previous_match && !outs.empty()) {
                    outs.back().end = s.end;
                } else {
                    outs.push_back({s.begin, s.end, false});
                }
                previous_match = s.is_match;
            }
            break;
        }
        case SplitBehavior::merged_with_next: {
            bool previous_match = false;
            for (size_t k = spans.size(); k-- > 0;) {
                const Span& s = spans[k];
                if (s.is_match && !previous_match && !outs.empty()) {
                    outs.back().begin = s.begin;
                } else {
                    outs.push_back({s.begin, s.end, false});
                }
                previous_match = s.is_match;
            }
            std::reverse(outs.begin(), outs.end());
            break;
        }
    }
    std::vector<std::string_view> result;
    for (const Out& o : outs) {
        if (!o.remove) result.push_back(text.substr(o.begin, o.end - o.begin));
    }
    return result;
}

const std::array<std::string, 256>& byte_to_unicode() {
    static const std::array<std::string, 256> table = [] {
        std::array<std::string, 256> t;
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
            char32_t cp = printable ? char32_t(b) : char32_t(256 + n++);
            t[size_t(b)] = utf8::encode(cp);
        }
        return t;
    }();
    return table;
}

int unicode_to_byte(char32_t cp) {
    static const std::array<int, 512> table = [] {
        std::array<int, 512> t;
        t.fill(-1);
        int n = 0;
        for (int b = 0; b < 256; ++b) {
            bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
            t[size_t(printable ? b : 256 + n++)] = b;
        }
        return t;
    }();
    return cp < 512 ? table[cp] : -1;
}

std::string byte_level_encode(std::string_view text) {
    const auto& table = byte_to_unicode();
    std::string out;
    out.reserve(text.size() * 2);
    for (char c : text) out += table[static_cast<unsigned char>(c)];
    return out;
}

void PreTokenizer::apply(std::vector<Piece>& pieces) const {
    if (kind == Kind::sequence) {
        for (const PreTokenizer& child : children) child.apply(pieces);
        return;
    }
    std::vector<Piece> out;
    out.reserve(pieces.size());
    auto emit = [&](const Piece& parent, const std::vector<std::string_view>& parts,
                    std::string_view base) {
        for (std::string_view part : parts) {
            if (part.empty()) continue;
            bool at_start = parent.at_start && part.data() == base.data();
            out.push_back({std::string(part), at_start});
        }
    };
    for (Piece& piece : pieces) {
        switch (kind) {
            case Kind::split: {
                std::string_view text = piece.text;
                emit(piece, split_by_matches(text, pattern.find_all(text), behavior, invert), text);
                break;
            }
            case Kind::byte_level: {
                std::string text = piece.text;
                if (add_prefix_space && (text.empty() || text[0] != ' ')) text = " " + text;
                std::vector<std::string_view> parts;
                if (use_regex) {
                    parts = split_by_matches(text, gpt2_regex().find_all(text),
                                             SplitBehavior::isolated, false);
                } else {
                    parts.push_back(text);
                }
                bool first = true;
                for (std::string_view part : parts) {
                    if (part.empty()) continue;
                    out.push_back({byte_level_encode(part), piece.at_start && first});
                    first = false;
                }
                break;
            }
            case Kind::metaspace: {
                std::string text = replace_all_spaces(piece.text);
                bool prepend = false;
                if (prepend_scheme == Prepend::always) prepend = true;
                if (prepend_scheme == Prepend::first) prepend = piece.at_start;
                if (prepend && text.compare(0, replacement.size(), replacement) != 0) {
                    text = replacement + text;
                }
                std::vector<std::string_view> parts;
                if (split_on_replacement) {
                    parts = split_by_matches(text, literal_matches(text, replacement),
                                             SplitBehavior::merged_with_next, false);
                } else {
                    parts.push_back(text);
                }
                bool first = true;
                for (std::string_view part : parts) {
                    if (part.empty()) continue;
                    out.push_back({std::string(part), piece.at_start && first});
                    first = false;
                }
                break;
            }
            case Kind::digits: {
                std::string_view text = piece.text;
                auto matches = char_matches(text, [](char32_t c) { return c >= '0' && c <= '9'; });
                emit(piece,
                     split_by_matches(
                         text, matches,
                         individual_digits ? SplitBehavior::isolated : SplitBehavior::contiguous,
                         false),
                     text);
                break;
            }
            case Kind::whitespace_split: {
                std::string_view text = piece.text;
                auto matches = char_matches(text, utf8::is_whitespace);
                emit(piece, split_by_matches(text, matches, SplitBehavior::removed, false), text);
                break;
            }
            case Kind::sequence:
                break;
        }
    }
    pieces = std::move(out);
}

std::string PreTokenizer::replace_all_spaces(std::string_view text) const {
    std::string out;
    out.reserve(text.size() + 8);
    for (char c : text) {
        if (c == ' ') {
            out += replacement;
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace encore
