// Sequence operations on the KV pool (see sequence.h).
#include "engine/sequence.h"

#include <algorithm>

#include "core/error.h"

namespace encore {

Sequence::Sequence(Engine& engine) : engine_(engine) {}

Sequence::~Sequence() {
    for (int32_t b : blocks_) engine_.kv().release(b);
}

void Sequence::prefill(std::span<const int32_t> tokens, Logits logits) {
    EvalItem item{this, tokens, logits};
    engine_.eval(std::span<EvalItem>(&item, 1));
}

void Sequence::truncate(int64_t n) {
    if (n < 0 || n > size())
        fail(ErrorKind::invalid_argument, "truncate({}): the sequence has {} tokens", n, size());
    const int B = engine_.kv().block_size();
    const size_t keep_blocks = size_t((n + B - 1) / B);
    while (blocks_.size() > keep_blocks) {
        engine_.kv().release(blocks_.back());
        blocks_.pop_back();
    }
    tokens_.resize(size_t(n));
    logits_.clear();
    logit_positions_.clear();
}

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
