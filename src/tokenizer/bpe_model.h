// The BPE model: vocabulary, merge ranks, and the encoding of one pre-tokenized word into ids as
// `tokenizers`' BPE does it (characters first, unknown characters to byte-fallback tokens
// `<0xNN>` or to the unknown token, then repeatedly the lowest-ranked adjacent pair merged,
// leftmost first). Merge ranks come either from a merges list or, for SentencePiece-style GGUF
// vocabularies without merges, from token scores (a pair merges when the concatenation is a token;
// higher score first). Encoded words are cached; long words (SentencePiece-style BPE has no
// pre-tokenizer, so a whole text is one word) are cut where no vocabulary token can span the cut,
// which leaves the result unchanged and keeps encoding linear in practice.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/flat_map.h"

namespace encore {

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct BpeOptions {
    std::optional<std::string> unk_token;
    std::optional<std::string> continuing_subword_prefix;
    std::optional<std::string> end_of_word_suffix;
    bool byte_fallback = false;
    bool fuse_unk = false;
    bool ignore_merges = false;
};

class BpeModel {
  public:
    BpeModel();  // empty: no tokens
    // `vocab`: (token, id) pairs; `merges`: (left, right) in rank order. Fails with
    // ErrorKind::format (naming `what`) on duplicate ids or merges naming unknown tokens.
    static BpeModel from_merges(const std::vector<std::pair<std::string, int32_t>>& vocab,
                                const std::vector<std::pair<std::string, std::string>>& merges,
                                BpeOptions options, const std::string& what);
    // Merge priority from `scores` (one per id, higher merges first).
    static BpeModel from_scores(const std::vector<std::pair<std::string, int32_t>>& vocab,
                                const std::vector<float>& scores, BpeOptions options,
                                const std::string& what);

    // Appends the ids of `word` to `out`.
    void tokenize(std::string_view word, std::vector<int32_t>& out) const;

    std::optional<int32_t> token_to_id(std::string_view token) const;
    // nullptr for ids outside the vocabulary (or gaps in it).
    const std::string* id_to_token(int32_t id) const;
    // One more than the largest id of the vocabulary.
    int32_t size() const { return int32_t(id_to_token_.size()); }
    int32_t n_tokens() const { return int32_t(token_to_id_.size()); }
    const BpeOptions& options() const { return options_; }
    // The merges as "left right" strings in rank order (empty when built from scores).
    std::vector<std::string> merges_as_strings() const;
    // For each merge in rank order, the id of the token it makes.
    std::vector<int32_t> merge_results() const;
    bool has_merges_list() const { return !merge_list_.empty() || !from_scores_; }

  private:
    struct MergeTarget {
        int32_t rank = 0;
        int32_t new_id = 0;
    };
    int32_t find_id(std::string_view token) const { return token_to_id_.find(token, id_to_token_); }
    struct Cache;
    struct Boundaries;

    void set_vocab(const std::vector<std::pair<std::string, int32_t>>& vocab,
                   const std::string& what);
    const MergeTarget* find_merge(int32_t left, int32_t right) const;
    void encode_uncached(std::string_view word, std::vector<int32_t>& out) const;
    // Merges `word` through the cache (no ignore_merges shortcut).
    void encode_cached(std::string_view word, std::vector<int32_t>& out) const;
    // Encodes a long word as independent chunks cut where no token can span the cut.
    void encode_long(std::string_view word, std::vector<int32_t>& out) const;
    const Boundaries& boundaries() const;

    BpeOptions options_;
    TokenIndex token_to_id_;
    std::vector<std::string> id_to_token_;
    std::vector<uint8_t> id_present_;
    PairMap<MergeTarget> merges_;
    std::vector<std::pair<int32_t, int32_t>> merge_list_;  // rank order, as given
    bool from_scores_ = false;
    std::optional<int32_t> unk_id_;
    std::array<int32_t, 256> byte_ids_{};  // <0xNN> ids, -1 when absent
    std::shared_ptr<Cache> cache_;
    std::shared_ptr<Boundaries> boundaries_;
};

}  // namespace encore
