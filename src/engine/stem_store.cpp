// The stem-state store (see stem_store.h).
#include "engine/stem_store.h"

#include <algorithm>

#include "core/error.h"
#include "kv/kv_pool.h"

namespace encore {

StemStore::StemStore(int64_t budget_bytes) : budget_(budget_bytes) {
    if (budget_bytes < 0)
        fail(ErrorKind::invalid_argument, "stem store budget must be >= 0, got {}", budget_bytes);
}

int64_t StemStore::state_bytes(int64_t n_tokens, int n_instances, int64_t n_embd, int64_t kv_dim) {
    return StemState::floats(n_tokens, n_instances, n_embd, kv_dim) * int64_t(sizeof(float));
}

uint64_t StemStore::key_hash(std::span<const int32_t> context, std::span<const int32_t> tokens) {
    const int32_t n_context = int32_t(context.size());
    return KvPool::chain_hash(KvPool::chain_hash(0, 0, context), uint64_t(n_context), tokens);
}

bool StemStore::add(std::span<const int32_t> context, StemState state) {
    if (lookup(context, state.tokens)) return true;
    const int64_t bytes =
        state_bytes(state.n_tokens(), state.n_instances(), state.n_embd, state.kv_dim) +
        int64_t(context.size() + state.tokens.size()) * int64_t(sizeof(int32_t));
    if (!fits(bytes)) {
        ++stats_.refused;
        return false;
    }
    const uint64_t h = key_hash(context, state.tokens);
    entries_.emplace(h,
                     Entry{std::vector<int32_t>(context.begin(), context.end()), std::move(state)});
    bytes_ += bytes;
    ++n_states_;
    ++stats_.captured;
    return true;
}

const StemState* StemStore::lookup(std::span<const int32_t> context,
                                   std::span<const int32_t> tokens) const {
    const auto [first, last] = entries_.equal_range(key_hash(context, tokens));
    for (auto it = first; it != last; ++it) {
        const Entry& e = it->second;
        if (std::equal(e.context.begin(), e.context.end(), context.begin(), context.end()) &&
            std::equal(e.state.tokens.begin(), e.state.tokens.end(), tokens.begin(), tokens.end()))
            return &e.state;
    }
    return nullptr;
}

const StemState* StemStore::find(std::span<const int32_t> context,
                                 std::span<const int32_t> tokens) {
    const StemState* state = lookup(context, tokens);
    ++(state ? stats_.hits : stats_.misses);
    return state;
}

void StemStore::clear() {
    entries_.clear();
    bytes_ = 0;
    n_states_ = 0;
}

}  // namespace encore
