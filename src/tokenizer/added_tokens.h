// Added tokens (tokenizer.json's "added_tokens"): strings matched in the input text before any
// normalization or pre-tokenization and mapped straight to their ids, as `tokenizers`'
// AddedVocabulary does: leftmost-longest matching, tokens with `normalized: false` matched in the
// raw text, tokens with `normalized: true` matched (by their normalized form) in the normalized
// pieces between them; `single_word`, `lstrip` and `rstrip` honoured. Special added tokens are
// the ones decode(skip_special=true) drops.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace encore {

struct Normalizer;

struct AddedToken {
    std::string content;
    int32_t id = -1;
    bool special = false;
    bool single_word = false;
    bool lstrip = false;
    bool rstrip = false;
    bool normalized = false;
};

// A piece of input: either plain text (id < 0) or one added token.
struct Segment {
    std::string text;
    int32_t id = -1;
    bool at_start = false;  // begins at offset 0 of the original text
};

// Leftmost-longest matcher over a set of strings.
class TokenMatcher {
  public:
    void build(std::vector<std::pair<std::string, size_t>> patterns);  // (pattern, token index)
    bool empty() const { return patterns_.empty(); }
    // Next match at or after `from`: (start, end, token index); false when none.
    bool find(std::string_view text, size_t from, size_t& start, size_t& end, size_t& token) const;

  private:
    std::vector<std::pair<std::string, size_t>> patterns_;  // sorted by first byte, then longest
    std::array<int32_t, 257> first_{};                      // bucket starts per first byte
};

class AddedVocabulary {
  public:
    // `normalizer` (may be null) gives the matching form of tokens with normalized = true.
    void build(std::vector<AddedToken> tokens, const Normalizer* normalizer);

    const std::vector<AddedToken>& tokens() const { return tokens_; }
    const AddedToken* find_by_id(int32_t id) const;
    const AddedToken* find_by_content(std::string_view content) const;

    // Splits `text` at the raw-text added tokens (normalized = false).
    void split_raw(std::string_view text, std::vector<Segment>& out) const;
    // Splits an already normalized piece at the normalized added tokens.
    void split_normalized(const Segment& piece, std::vector<Segment>& out) const;
    bool has_normalized() const { return !normalized_matcher_.empty(); }

  private:
    void split(std::string_view text, bool at_start, const TokenMatcher& matcher,
               std::vector<Segment>& out) const;

    std::vector<AddedToken> tokens_;
    TokenMatcher raw_matcher_, normalized_matcher_;
};

}  // namespace encore
