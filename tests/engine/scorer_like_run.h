// The work a Scorer does on an engine, for the stem-store tests of the CPU (stem_test.cpp) and
// the GPU (tests/gpu/engine_test.cpp): a prefix prefilled without logits, forks of it cut back
// to different lengths evaluated together in one batch, a fork of a fork, then a decoding step
// on each fork. Token ids are taken modulo the model's vocabulary.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "engine/engine.h"
#include "engine/sequence.h"

namespace encore::testing {

// Through a StemStore (engine/stem_store.h): a prefix prefilled without
// logits, forks of it cut back to different lengths evaluated together in one batch, a fork of
// a fork. Captured on the base, reused on RYS plans: bitwise the logits of a fresh engine, also
// for tokens decoded after them, with a batch mixing items found in the store and one that is
// not (two groups of forward passes), split in chunks.
struct ScorerLikeRun {
    std::vector<std::vector<float>> logits;  // of every eval'd sequence, in order
};

inline ScorerLikeRun scorer_like_run(Engine& engine, bool with_stranger) {
    ScorerLikeRun out;
    const int64_t vocab = engine.spec().vocab_size;
    auto id = [vocab](int64_t t) { return int32_t(t % vocab); };
    std::vector<int32_t> prefix;
    for (int i = 0; i < 45; ++i) prefix.push_back(id((i * 977 + 13) % 4000 + 2));
    Sequence base(engine);
    base.prefill(prefix, Logits::none);
    std::vector<std::unique_ptr<Sequence>> forks;
    std::vector<std::vector<int32_t>> suffixes;
    for (int k = 0; k < 3; ++k) {
        forks.push_back(base.fork());
        forks.back()->truncate(45 - 14 * k);  // 45, 31, 17: blocks shared, one partial
        std::vector<int32_t> t;
        for (int n = 0; n < 9 + 5 * k; ++n) t.push_back(id((n * 131 + 7 * k) % 3000 + 40));
        suffixes.push_back(t);
    }
    if (with_stranger) {  // not captured: computed from instance 0 in the same batch
        forks.push_back(base.fork());
        suffixes.push_back({id(11), id(12), id(13), id(14)});
    }
    std::vector<EvalItem> batch;
    for (size_t k = 0; k < forks.size(); ++k)
        batch.push_back({forks[k].get(), suffixes[k], k == 1 ? Logits::last : Logits::all});
    engine.eval(batch);
    for (const auto& f : forks) out.logits.emplace_back(f->logits().begin(), f->logits().end());
    auto label = forks[0]->fork();
    const std::vector<int32_t> label_tokens{id(301), id(302), id(303)};
    label->prefill(label_tokens, Logits::all);
    out.logits.emplace_back(label->logits().begin(), label->logits().end());
    // Decoding on after the stem (its K/V were stored into the cache).
    const std::vector<int32_t> next{id(5), id(77)};
    for (const auto& f : forks) {
        f->prefill(next, Logits::all);
        out.logits.emplace_back(f->logits().begin(), f->logits().end());
    }
    return out;
}

// Whether two runs gave the same logits, bit for bit; else which sequence differs first.
inline ::testing::AssertionResult same_bits(const ScorerLikeRun& a, const ScorerLikeRun& b) {
    if (a.logits.size() != b.logits.size())
        return ::testing::AssertionFailure()
               << a.logits.size() << " sequences against " << b.logits.size();
    for (size_t k = 0; k < a.logits.size(); ++k)
        if (a.logits[k].size() != b.logits[k].size() ||
            std::memcmp(a.logits[k].data(), b.logits[k].data(),
                        a.logits[k].size() * sizeof(float)) != 0)
            return ::testing::AssertionFailure() << "sequence " << k << " differs";
    return ::testing::AssertionSuccess();
}

}  // namespace encore::testing
