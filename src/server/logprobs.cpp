// Log-softmax, top-k and the prompt-logprob cache (see logprobs.h).
#include "server/logprobs.h"

#include <algorithm>
#include <cmath>

namespace encore::server {

double log_sum_exp(std::span<const float> logits) {
    float max = -INFINITY;
    for (float v : logits) max = std::max(max, v);
    double sum = 0;
    for (float v : logits) sum += std::exp(double(v) - double(max));
    return double(max) + std::log(sum);
}

PositionLogprobs position_logprobs(std::span<const float> logits, int32_t next, int k) {
    const double lse = log_sum_exp(logits);
    PositionLogprobs out;
    out.chosen = {next, double(logits[size_t(next)]) - lse};
    k = std::min<int>(k, int(logits.size()));
    if (k <= 0) return out;
    std::vector<int32_t> ids(logits.size());
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i);
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
        return logits[size_t(a)] > logits[size_t(b)] ||
               (logits[size_t(a)] == logits[size_t(b)] && a < b);
    });
    for (int i = 0; i < k; ++i)
        out.top.push_back({ids[size_t(i)], double(logits[size_t(ids[size_t(i)])]) - lse});
    return out;
}

bool PromptLogprobCache::find(uint64_t hash, std::vector<PositionLogprobs>& out) {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(hash);
    if (it == entries_.end()) return false;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    out = it->second.positions;
    return true;
}

void PromptLogprobCache::insert(uint64_t hash, std::vector<PositionLogprobs> block) {
    std::lock_guard lock(mutex_);
    if (max_blocks_ == 0 || entries_.count(hash)) return;
    while (entries_.size() >= max_blocks_) {
        entries_.erase(lru_.back());
        lru_.pop_back();
    }
    lru_.push_front(hash);
    entries_.emplace(hash, Entry{std::move(block), lru_.begin()});
}

size_t PromptLogprobCache::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace encore::server
