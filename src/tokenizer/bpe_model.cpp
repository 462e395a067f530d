// BPE encoding of single words (see bpe_model.h). The merge loop follows `tokenizers`'
// `Word::merge_all`: a priority queue of adjacent pairs ordered by (rank, position); entries made
// stale by earlier merges are skipped when popped.
#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <queue>
#include <unordered_set>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace encore {

namespace {

constexpr size_t k_max_cached_word = 256;  // bytes
constexpr size_t k_max_cache_entries = 200'000;
constexpr int64_t k_max_sparse_gap = 1'000'000;  // ids beyond the entries

uint64_t pair_key(int32_t left, int32_t right) {
    return (uint64_t(uint32_t(left)) << 32) | uint32_t(right);
}

std::string byte_token(int b) {
    static const char* hex = "0123456789ABCDEF";
    std::string s = "<0x00>";
    s[3] = hex[(b >> 4) & 15];
    s[4] = hex[b & 15];
    return s;
}

struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    int32_t len;  // bytes of the original word; 0 once merged into its left neighbour
};

struct QueuedMerge {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator<(const QueuedMerge& o) const {  // std::priority_queue pops the largest
        if (rank != o.rank) return rank > o.rank;
        return pos > o.pos;
    }
};

}  // namespace

struct BpeModel::Cache {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> words;
};

// Which adjacent character pairs occur inside some token, and which characters are tokens by
// themselves: a word may be cut between characters a and b when both are single-character tokens
// and no token contains "ab" (so no merge can ever join the two sides).
struct BpeModel::Boundaries {
    std::once_flag once;
    std::unordered_set<uint64_t> adjacent;
    std::vector<uint64_t> single;  // bitmap over code points

    bool is_single(char32_t c) const { return (single[c >> 6] >> (c & 63)) & 1; }
    bool can_cut(char32_t a, char32_t b) const {
        return is_single(a) && is_single(b) && !adjacent.count((uint64_t(a) << 32) | b);
    }
};

BpeModel::BpeModel()
    : cache_(std::make_shared<Cache>()), boundaries_(std::make_shared<Boundaries>()) {
    byte_ids_.fill(-1);
}

const BpeModel::Boundaries& BpeModel::boundaries() const {
    Boundaries& b = *boundaries_;
    std::call_once(b.once, [&] {
        b.single.assign((0x110000 >> 6) + 1, 0);
        token_to_id_.for_each([&](int32_t id) {
            const std::string& token = id_to_token_[size_t(id)];
            if (token.empty() || utf8::find_invalid(token)) return;
            size_t i = 0;
            char32_t prev = utf8::next_code_point(token, i);
            if (i == token.size()) b.single[prev >> 6] |= uint64_t(1) << (prev & 63);
            while (i < token.size()) {
                char32_t c = utf8::next_code_point(token, i);
                b.adjacent.insert((uint64_t(prev) << 32) | c);
                prev = c;
            }
        });
    });
    return b;
}

void BpeModel::set_vocab(const std::vector<std::pair<std::string, int32_t>>& vocab,
                         const std::string& what) {
    int64_t max_id = -1;
    for (const auto& [token, id] : vocab) {
        if (id < 0) fail(ErrorKind::format, "{}: token '{}' has negative id {}", what, token, id);
        max_id = std::max<int64_t>(max_id, id);
    }
    if (max_id >= int64_t(vocab.size()) + k_max_sparse_gap) {
        fail(ErrorKind::format, "{}: token id {} is far beyond the {} vocabulary entries", what,
             max_id, vocab.size());
    }
    id_to_token_.assign(size_t(max_id + 1), std::string());
    id_present_.assign(size_t(max_id + 1), 0);
    token_to_id_.reserve(vocab.size());
    for (const auto& [token, id] : vocab) {
        if (id_present_[size_t(id)] && id_to_token_[size_t(id)] != token) {
            // `tokenizers` keeps the last token for an id when building its reverse map; a
            // vocabulary with two tokens for one id is malformed for our purposes.
            fail(ErrorKind::format, "{}: id {} is given to both '{}' and '{}'", what, id,
                 id_to_token_[size_t(id)], token);
        }
        id_to_token_[size_t(id)] = token;
        id_present_[size_t(id)] = 1;
        token_to_id_.insert(token, id, id_to_token_);
    }
    for (int b = 0; b < 256; ++b) {
        byte_ids_[size_t(b)] = find_id(byte_token(b));
    }
    if (options_.unk_token) {
        int32_t id = find_id(*options_.unk_token);
        if (id >= 0) unk_id_ = id;
    }
}

BpeModel BpeModel::from_merges(const std::vector<std::pair<std::string, int32_t>>& vocab,
                               const std::vector<std::pair<std::string, std::string>>& merges,
                               BpeOptions options, const std::string& what) {
    BpeModel m;
    m.options_ = std::move(options);
    m.set_vocab(vocab, what);
    size_t prefix_len =
        m.options_.continuing_subword_prefix ? m.options_.continuing_subword_prefix->size() : 0;
    m.merges_.reserve(merges.size());
    m.merge_list_.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const auto& [left, right] = merges[rank];
        int32_t a = m.find_id(left);
        if (a < 0) {
            fail(ErrorKind::format, "{}: merge {} ('{} {}'): '{}' is not in the vocabulary", what,
                 rank, left, right, left);
        }
        int32_t b = m.find_id(right);
        if (b < 0) {
            fail(ErrorKind::format, "{}: merge {} ('{} {}'): '{}' is not in the vocabulary", what,
                 rank, left, right, right);
        }
        std::string merged = left;
        if (prefix_len > 0 &&
            right.compare(0, prefix_len, *m.options_.continuing_subword_prefix) == 0) {
            merged += right.substr(prefix_len);
        } else {
            merged += right;
        }
        int32_t c = m.find_id(merged);
        if (c < 0) {
            fail(ErrorKind::format, "{}: merge {} ('{} {}'): '{}' is not in the vocabulary", what,
                 rank, left, right, merged);
        }
        // A repeated pair keeps its last rank, as `tokenizers`' hash map collection does.
        m.merges_.insert_or_assign(pair_key(a, b), MergeTarget{int32_t(rank), c});
        m.merge_list_.emplace_back(a, b);
    }
    return m;
}

BpeModel BpeModel::from_scores(const std::vector<std::pair<std::string, int32_t>>& vocab,
                               const std::vector<float>& scores, BpeOptions options,
                               const std::string& what) {
    BpeModel m;
    m.options_ = std::move(options);
    m.from_scores_ = true;
    m.set_vocab(vocab, what);
    // Dense rank of each score, highest first; equal scores share a rank (the queue then takes
    // the leftmost pair, as SentencePiece does).
    std::vector<float> distinct;
    auto score_of = [&](int32_t id) {
        float s = size_t(id) < scores.size() ? scores[size_t(id)] : -INFINITY;
        return std::isnan(s) ? -INFINITY : s;
    };
    for (const auto& [token, id] : vocab) distinct.push_back(score_of(id));
    std::sort(distinct.begin(), distinct.end(), std::greater<float>());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    for (const auto& [token, id] : vocab) {
        if (token.size() < 2) continue;
        if (score_of(id) == -INFINITY) continue;  // not reachable by merging
        auto rank_it =
            std::lower_bound(distinct.begin(), distinct.end(), score_of(id), std::greater<float>());
        int32_t rank = int32_t(rank_it - distinct.begin());
        if (utf8::find_invalid(token)) continue;
        size_t i = 0;
        utf8::next_code_point(token, i);
        while (i < token.size()) {
            int32_t a = m.find_id(std::string_view(token).substr(0, i));
            int32_t b = m.find_id(std::string_view(token).substr(i));
            if (a >= 0 && b >= 0) {
                m.merges_.insert_or_assign(pair_key(a, b), MergeTarget{rank, id});
            }
            utf8::next_code_point(token, i);
        }
    }
    return m;
}

std::optional<int32_t> BpeModel::token_to_id(std::string_view token) const {
    int32_t id = find_id(token);
    if (id < 0) return std::nullopt;
    return id;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
    if (id < 0 || size_t(id) >= id_to_token_.size() || !id_present_[size_t(id)]) return nullptr;
    return &id_to_token_[size_t(id)];
}

std::vector<std::string> BpeModel::merges_as_strings() const {
    std::vector<std::string> out;
    out.reserve(merge_list_.size());
    for (auto [a, b] : merge_list_)
        out.push_back(id_to_token_[size_t(a)] + " " + id_to_token_[size_t(b)]);
    return out;
}

std::vector<int32_t> BpeModel::merge_results() const {
    std::vector<int32_t> out;
    out.reserve(merge_list_.size());
    for (auto [a, b] : merge_list_) {
        const MergeTarget* m = find_merge(a, b);
        out.push_back(m ? m->new_id : -1);
    }
    return out;
}

const BpeModel::MergeTarget* BpeModel::find_merge(int32_t left, int32_t right) const {
    return merges_.find(pair_key(left, right));
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
    if (word.empty()) return;
    if (options_.ignore_merges) {
        int32_t id = find_id(word);
        if (id >= 0) {
            out.push_back(id);
            return;
        }
    }
    bool affixes =
        (options_.continuing_subword_prefix && !options_.continuing_subword_prefix->empty()) ||
        (options_.end_of_word_suffix && !options_.end_of_word_suffix->empty());
    if (word.size() > k_max_cached_word && !affixes) {
        encode_long(word, out);
        return;
    }
    encode_cached(word, out);
}

void BpeModel::encode_long(std::string_view word, std::vector<int32_t>& out) const {
    const Boundaries& b = boundaries();
    size_t chunk_start = 0;
    size_t i = 0;
    char32_t prev = utf8::next_code_point(word, i);
    while (i < word.size()) {
        size_t at = i;
        char32_t c = utf8::next_code_point(word, i);
        if (b.can_cut(prev, c)) {
            encode_cached(word.substr(chunk_start, at - chunk_start), out);
            chunk_start = at;
        }
        prev = c;
    }
    encode_cached(word.substr(chunk_start), out);
}

void BpeModel::encode_cached(std::string_view word, std::vector<int32_t>& out) const {
    bool cacheable = word.size() <= k_max_cached_word;
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_->mutex);
        auto it = cache_->words.find(word);
        if (it != cache_->words.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    size_t first = out.size();
    encode_uncached(word, out);
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache_->mutex);
        if (cache_->words.size() < k_max_cache_entries) {
            cache_->words.emplace(std::string(word),
                                  std::vector<int32_t>(out.begin() + long(first), out.end()));
        }
    }
}

void BpeModel::encode_uncached(std::string_view word, std::vector<int32_t>& out) const {
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    auto add = [&](int32_t id, int32_t len) {
        int32_t index = int32_t(symbols.size());
        int32_t prev = index - 1;
        if (prev >= 0) symbols[size_t(prev)].next = index;
        symbols.push_back({id, prev, -1, len});
    };
    bool unk_pending = false;  // an unknown-token symbol waiting to be added
    int32_t unk_pending_id = 0, unk_pending_len = 0;
    auto need_unk_id = [&]() -> int32_t {
        if (!unk_id_) {
            fail(ErrorKind::format, "tokenizer: unk_token '{}' is not in the vocabulary",
                 *options_.unk_token);
        }
        return *unk_id_;
    };
    const std::string* prefix =
        options_.continuing_subword_prefix ? &*options_.continuing_subword_prefix : nullptr;
    const std::string* suffix =
        options_.end_of_word_suffix ? &*options_.end_of_word_suffix : nullptr;
    std::string buffer;
    size_t i = 0;
    while (i < word.size()) {
        size_t start = i;
        size_t n = utf8::sequence_length(static_cast<unsigned char>(word[i]));
        if (start + n > word.size()) n = word.size() - start;
        i = start + n;
        std::string_view ch = word.substr(start, n);
        bool is_first = start == 0, is_last = i >= word.size();
        std::string_view key = ch;
        if ((!is_first && prefix && !prefix->empty()) || (is_last && suffix && !suffix->empty())) {
            buffer.clear();
            if (!is_first && prefix) buffer += *prefix;
            buffer += ch;
            if (is_last && suffix) buffer += *suffix;
            key = buffer;
        }
        int32_t key_id = find_id(key);
        if (key_id >= 0) {
            if (unk_pending) {
                add(unk_pending_id, unk_pending_len);
                unk_pending = false;
            }
            add(key_id, int32_t(n));
            continue;
        }
        if (options_.byte_fallback) {
            bool all = true;
            for (char c : key) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
            if (all) {
                for (char c : key) add(byte_ids_[static_cast<unsigned char>(c)], 1);
                continue;
            }
        }
        if (options_.unk_token) {
            if (unk_pending && options_.fuse_unk) {
                unk_pending_len += int32_t(n);
            } else {
                if (unk_pending) add(unk_pending_id, unk_pending_len);
                unk_pending = true;
                unk_pending_id = need_unk_id();
                unk_pending_len = int32_t(n);
            }
        }
    }
    if (unk_pending) add(unk_pending_id, unk_pending_len);

    // Merge loop.
    std::priority_queue<QueuedMerge> queue;
    for (size_t k = 0; k + 1 < symbols.size(); ++k) {
        if (const MergeTarget* m = find_merge(symbols[k].id, symbols[k + 1].id)) {
            queue.push({m->rank, int32_t(k), m->new_id});
        }
    }
    while (!queue.empty()) {
        QueuedMerge top = queue.top();
        queue.pop();
        Symbol& cur = symbols[size_t(top.pos)];
        if (cur.len == 0 || cur.next == -1) continue;
        int32_t next_pos = cur.next;
        Symbol right = symbols[size_t(next_pos)];
        const MergeTarget* m = find_merge(cur.id, right.id);
        if (!m || m->new_id != top.new_id) continue;
        cur.id = top.new_id;
        cur.len += right.len;
        cur.next = right.next;
        symbols[size_t(next_pos)].len = 0;
        if (right.next >= 0 && size_t(right.next) < symbols.size()) {
            symbols[size_t(right.next)].prev = top.pos;
        }
        if (cur.prev >= 0) {
            if (const MergeTarget* pm = find_merge(symbols[size_t(cur.prev)].id, cur.id)) {
                queue.push({pm->rank, cur.prev, pm->new_id});
            }
        }
        if (cur.next >= 0) {
            if (const MergeTarget* nm = find_merge(cur.id, symbols[size_t(cur.next)].id)) {
                queue.push({nm->rank, top.pos, nm->new_id});
            }
        }
    }
    for (const Symbol& s : symbols) {
        if (s.len != 0) out.push_back(s.id);
    }
}

}  // namespace encore
