// Added-token matching (see added_tokens.h), following `tokenizers`' AddedVocabulary::find_matches:
// non-overlapping leftmost-longest matches; a single_word token that touches a word character
// (Rust regex `\w`) is not a match; lstrip / rstrip extend a match over the white space beside
// it.
#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/normalizer.h"
#include "tokenizer/utf8.h"

namespace encore {

void TokenMatcher::build(std::vector<std::pair<std::string, size_t>> patterns) {
    patterns.erase(std::remove_if(patterns.begin(), patterns.end(),
                                  [](const auto& p) { return p.first.empty(); }),
                   patterns.end());
    std::stable_sort(patterns.begin(), patterns.end(), [](const auto& a, const auto& b) {
        auto fa = static_cast<unsigned char>(a.first[0]),
             fb = static_cast<unsigned char>(b.first[0]);
        if (fa != fb) return fa < fb;
        return a.first.size() > b.first.size();
    });
    patterns_ = std::move(patterns);
    first_.fill(-1);
    for (size_t k = patterns_.size(); k-- > 0;) {
        first_[static_cast<unsigned char>(patterns_[k].first[0])] = int32_t(k);
    }
}

bool TokenMatcher::find(std::string_view text, size_t from, size_t& start, size_t& end,
                        size_t& token) const {
    if (patterns_.empty()) return false;
    for (size_t i = from; i < text.size(); ++i) {
        auto b = static_cast<unsigned char>(text[i]);
        int32_t k = first_[b];
        if (k < 0) continue;
        for (size_t j = size_t(k); j < patterns_.size(); ++j) {
            const std::string& p = patterns_[j].first;
            if (static_cast<unsigned char>(p[0]) != b) break;
            if (text.size() - i >= p.size() && text.compare(i, p.size(), p) == 0) {
                start = i;
                end = i + p.size();
                token = patterns_[j].second;
                return true;
            }
        }
    }
    return false;
}

void AddedVocabulary::build(std::vector<AddedToken> tokens, const Normalizer* normalizer) {
    tokens_ = std::move(tokens);
    std::vector<std::pair<std::string, size_t>> raw, normalized;
    for (size_t k = 0; k < tokens_.size(); ++k) {
        AddedToken& t = tokens_[k];
        if (t.content.empty()) continue;
        if (t.normalized) {
            // A normalized token is matched, and decoded, as its normalized form (as
            // `tokenizers` 0.23 does: "\ufb01ne" under NFKC decodes to "fine").
            if (normalizer) t.content = normalizer->apply(t.content);
            if (t.content.empty()) continue;
            normalized.emplace_back(t.content, k);
        } else {
            raw.emplace_back(t.content, k);
        }
    }
    raw_matcher_.build(std::move(raw));
    normalized_matcher_.build(std::move(normalized));
}

const AddedToken* AddedVocabulary::find_by_id(int32_t id) const {
    // Later entries win, as in `tokenizers`' reverse map.
    for (size_t k = tokens_.size(); k-- > 0;) {
        if (tokens_[k].id == id) return &tokens_[k];
    }
    return nullptr;
}

const AddedToken* AddedVocabulary::find_by_content(std::string_view content) const {
    for (const AddedToken& t : tokens_) {
        if (t.content == content) return &t;
    }
    return nullptr;
}

void AddedVocabulary::split_raw(std::string_view text, std::vector<Segment>& out) const {
    split(text, true, raw_matcher_, out);
}

void AddedVocabulary::split_normalized(const Segment& piece, std::vector<Segment>& out) const {
    split(piece.text, piece.at_start, normalized_matcher_, out);
}

namespace {

// Whether the text before `pos` ends with a word character (regex `\w$`).
bool ends_with_word(std::string_view text, size_t pos) {
    if (pos == 0) return false;
    size_t i = pos - 1;
    while (i > 0 && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
    size_t j = i;
    return utf8::is_word_char(utf8::next_code_point(text, j));
}

// Whether the text from `pos` starts with a word character (regex `^\w`).
bool starts_with_word(std::string_view text, size_t pos) {
    if (pos >= text.size()) return false;
    return utf8::is_word_char(utf8::next_code_point(text, pos));
}

}  // namespace

void AddedVocabulary::split(std::string_view text, bool at_start, const TokenMatcher& matcher,
                            std::vector<Segment>& out) const {
    auto push_text = [&](size_t b, size_t e) {
        if (e > b) out.push_back({std::string(text.substr(b, e - b)), -1, at_start && b == 0});
    };
    size_t start_offset = 0;
    size_t search = 0;
    size_t start = 0, stop = 0, index = 0;
    while (matcher.find(text, search, start, stop, index)) {
        search = stop;
        const AddedToken& t = tokens_[index];
        if (start < start_offset) continue;  // swallowed by a previous rstrip
        if (t.single_word) {
            bool start_space = start == 0 || !ends_with_word(text, start);
            bool stop_space = stop == text.size() || !starts_with_word(text, stop);
            if (!start_space || !stop_space) continue;
        }
        if (t.lstrip) {
            // Back over the white space before the match (not before start_offset).
            size_t s = start;
            while (s > start_offset) {
                size_t p = s - 1;
                while (p > 0 && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
                size_t q = p;
                if (!utf8::is_whitespace(utf8::next_code_point(text, q))) break;
                s = p;
            }
            start = s;
        }
        if (t.rstrip) {
            size_t e = stop;
            while (e < text.size()) {
                size_t q = e;
                if (!utf8::is_whitespace(utf8::next_code_point(text, q))) break;
                e = q;
            }
            stop = e;
            search = stop;
        }
        push_text(start_offset, start);
        out.push_back(
            {std::string(text.substr(start, stop - start)), t.id, at_start && start == 0});
        start_offset = stop;
    }
    push_text(start_offset, text.size());
}

}  // namespace encore
