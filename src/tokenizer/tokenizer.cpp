// Tokenizer assembly: the encode and decode pipelines over the parts of TokenizerImpl, and the
// accessors (see tokenizer.h).
#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/utf8.h"

namespace encore {

void TokenizerImpl::finish(std::vector<AddedToken> added_tokens) {
    added.build(std::move(added_tokens), normalizer ? &*normalizer : nullptr);
    vocab_size = model.size();
    for (const AddedToken& t : added.tokens()) vocab_size = std::max(vocab_size, t.id + 1);
    added_index.assign(size_t(vocab_size), -1);
    const auto& tokens = added.tokens();
    for (size_t k = 0; k < tokens.size(); ++k) added_index[size_t(tokens[k].id)] = int32_t(k);
}

Tokenizer::Tokenizer() {
    auto impl = std::make_shared<TokenizerImpl>();
    impl->name = "empty";
    impl->finish({});
    impl_ = std::move(impl);
}

Tokenizer::Tokenizer(std::shared_ptr<const TokenizerImpl> impl) : impl_(std::move(impl)) {}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special) const {
    const TokenizerImpl& t = *impl_;
    if (auto bad = utf8::find_invalid(text)) {
        fail(ErrorKind::invalid_argument,
             "tokenizer {}: input text is not valid UTF-8: bad byte 0x{:02X} at byte offset {}",
             t.name, static_cast<unsigned char>(text[*bad]), *bad);
    }
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3 + 8);
    if (add_special) ids = t.post.prefix;

    std::vector<Segment> raw;
    t.added.split_raw(text, raw);
    std::vector<Segment> normalized;
    std::vector<Piece> pieces;
    for (Segment& seg : raw) {
        if (seg.id >= 0) {
            ids.push_back(seg.id);
            continue;
        }
        if (t.normalizer) seg.text = t.normalizer->apply(seg.text);
        normalized.clear();
        if (t.added.has_normalized()) {
            t.added.split_normalized(seg, normalized);
        } else {
            normalized.push_back(std::move(seg));
        }
        for (Segment& sub : normalized) {
            if (sub.id >= 0) {
                ids.push_back(sub.id);
                continue;
            }
            if (sub.text.empty()) continue;
            pieces.clear();
            pieces.push_back({std::move(sub.text), sub.at_start});
            if (t.pre_tokenizer) t.pre_tokenizer->apply(pieces);
            for (const Piece& piece : pieces) t.model.tokenize(piece.text, ids);
        }
    }
    if (add_special) ids.insert(ids.end(), t.post.suffix.begin(), t.post.suffix.end());
    return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
    const TokenizerImpl& t = *impl_;
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (int32_t id : ids) {
        if (id < 0 || id >= t.vocab_size) {
            fail(ErrorKind::out_of_range, "tokenizer {}: token id {} is out of range [0, {})",
                 t.name, id, t.vocab_size);
        }
        int32_t k = t.added_index[size_t(id)];
        if (k >= 0) {
            const AddedToken& a = t.added.tokens()[size_t(k)];
            if (skip_special && a.special) continue;
            tokens.push_back(a.content);
            continue;
        }
        if (const std::string* s = t.model.id_to_token(id)) tokens.push_back(*s);
    }
    return decode_tokens(t.decoder ? &*t.decoder : nullptr, std::move(tokens));
}

int32_t Tokenizer::vocab_size() const {
    return impl_->vocab_size;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
    if (const AddedToken* a = impl_->added.find_by_content(token)) return a->id;
    return impl_->model.token_to_id(token);
}

std::string Tokenizer::id_to_token(int32_t id) const {
    const TokenizerImpl& t = *impl_;
    if (id < 0 || id >= t.vocab_size) {
        fail(ErrorKind::out_of_range, "tokenizer {}: token id {} is out of range [0, {})", t.name,
             id, t.vocab_size);
    }
    int32_t k = t.added_index[size_t(id)];
    if (k >= 0) return t.added.tokens()[size_t(k)].content;
    if (const std::string* s = t.model.id_to_token(id)) return *s;
    return {};
}

std::optional<int32_t> Tokenizer::bos_id() const {
    return impl_->bos;
}
std::vector<int32_t> Tokenizer::eos_ids() const {
    return impl_->eos;
}

bool Tokenizer::is_special(int32_t id) const {
    const TokenizerImpl& t = *impl_;
    if (id < 0 || id >= t.vocab_size) return false;
    int32_t k = t.added_index[size_t(id)];
    return k >= 0 && t.added.tokens()[size_t(k)].special;
}

const std::vector<int32_t>& Tokenizer::prefix_ids() const {
    return impl_->post.prefix;
}
const std::vector<int32_t>& Tokenizer::suffix_ids() const {
    return impl_->post.suffix;
}
const std::string& Tokenizer::name() const {
    return impl_->name;
}

}  // namespace encore
