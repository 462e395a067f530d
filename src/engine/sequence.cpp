// Sequence operations on the KV pool (see sequence.h).
#include "engine/sequence.h"

#include <algorithm>

#include "core/error.h"
#include "engine/prefix_file.h"

namespace encore {

Sequence::Sequence(Engine& engine) : engine_(engine) {}

Sequence::~Sequence() { free(); }

void Sequence::check_live() const {
    if (freed_) fail(ErrorKind::invalid_argument, "sequence was freed");
}

void Sequence::free() {
    if (freed_) return;
    for (int32_t b : blocks_) engine_.kv().release(b);
    blocks_.clear();
    block_hashes_.clear();
    tokens_.clear();
    logits_.clear();
    logit_positions_.clear();
    freed_ = true;
}

void Sequence::prefill(std::span<const int32_t> tokens, Logits logits) {
    check_live();
    EvalItem item{this, tokens, logits};
    engine_.eval(std::span<EvalItem>(&item, 1));
}

void Sequence::truncate(int64_t n) {
    check_live();
    if (n < 0 || n > size())
        fail(ErrorKind::invalid_argument, "truncate({}): the sequence has {} tokens", n, size());
    const int B = engine_.kv().block_size();
    const size_t keep_blocks = size_t((n + B - 1) / B);
    while (blocks_.size() > keep_blocks) {
        engine_.kv().release(blocks_.back());
        blocks_.pop_back();
    }
    block_hashes_.resize(std::min(block_hashes_.size(), size_t(n / B)));
    tokens_.resize(size_t(n));
    logits_.clear();
    logit_positions_.clear();
}

std::unique_ptr<Sequence> Sequence::fork() const {
    check_live();
    KvPool& kv = engine_.kv();
    const int B = kv.block_size();
    auto child = std::make_unique<Sequence>(engine_);
    const size_t n_full = size_t(size() / B);
    const int partial = int(size() % B);
    if (partial > 0) {  // the copy may fail (pool full): do it before taking any reference
        const int32_t copy = kv.allocate();
        kv.copy_block(blocks_.back(), copy, partial);
        child->blocks_.assign(blocks_.begin(), blocks_.begin() + int64_t(n_full));
        child->blocks_.push_back(copy);
    } else {
        child->blocks_ = blocks_;
    }
    for (size_t i = 0; i < n_full; ++i) kv.retain(blocks_[i]);
    child->tokens_ = tokens_;
    child->block_hashes_ = block_hashes_;
    child->logits_ = logits_;
    child->logit_positions_ = logit_positions_;
    return child;
}

int64_t Sequence::set_tokens(std::span<const int32_t> all, Logits logits) {
    check_live();
    size_t common = 0;
    while (common < tokens_.size() && common < all.size() && tokens_[common] == all[common])
        ++common;
    if (logits != Logits::none && common == all.size() && common > 0) --common;  // recompute one
    // Validate before truncating, so a bad id leaves the sequence unchanged.
    for (int32_t t : all.subspan(common))
        if (t < 0 || t >= engine_.vocab_size())
            fail(ErrorKind::out_of_range, "token id {} is out of range (vocabulary 0-{})", t,
                 engine_.vocab_size() - 1);
    if (common < tokens_.size()) truncate(int64_t(common));
    prefill(all.subspan(common), logits);
    return int64_t(common);
}

void Sequence::save(const std::string& path) const { PrefixFile::save(*this, path); }

void Sequence::load(const std::string& path) { PrefixFile::load(*this, path); }

std::span<const float> Sequence::logits_at(int64_t position) const {
    const auto it = std::find(logit_positions_.begin(), logit_positions_.end(), position);
    if (it == logit_positions_.end())
        fail(ErrorKind::invalid_argument, "no logits kept for position {}", position);
    const int64_t vocab = engine_.vocab_size();
    return std::span(logits_).subspan(size_t((it - logit_positions_.begin()) * vocab),
                                      size_t(vocab));
}

std::span<const float> Sequence::last_logits() const {
    if (logit_positions_.empty()) fail(ErrorKind::invalid_argument, "no logits were kept");
    return logits_at(logit_positions_.back());
}

}  // namespace encore
