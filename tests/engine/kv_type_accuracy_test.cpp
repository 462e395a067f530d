// f16 and bf16 KV pools against the f32 pool on the bundled trained model (cpu backend): the
// logits of 320 tokens of its held-out text, all computed through the cache, stay within the
// bounds README.md states ("KV cache storage types"), measured as the largest absolute logit
// difference and the relative difference of the perplexity; a 48-token greedy continuation is the
// same; bytes per position are halved, so the same budget holds twice the blocks. The measured
// figures are printed so that the README's numbers can be checked against a run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "engine/sequence.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace encore {
namespace {

std::string brown_dir() {
    return std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l";
}

std::shared_ptr<Model> brown() {
    static auto model = Model::load(brown_dir());
    return model;
}

std::vector<int32_t> heldout_tokens(size_t n) {
    std::ifstream in(brown_dir() + "/heldout.txt");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    std::vector<int32_t> ids = brown()->tokenizer().encode(text.substr(0, 20000), true);
    EXPECT_GE(ids.size(), n);
    ids.resize(n);
    return ids;
}

EngineOptions with_kv_type(DType kv_type) {
    EngineOptions o;
    o.kv_type = kv_type;
    o.max_batch_tokens = 64;  // several forward passes, each attending over the stored cache
    return o;
}

// Logits of every position of `tokens` ([n, vocab]).
std::vector<float> all_logits(DType kv_type, const std::vector<int32_t>& tokens) {
    Engine engine(brown(), LayerPlan::identity(int(brown()->spec().n_layers)),
                  with_kv_type(kv_type));
    Sequence seq(engine);
    seq.prefill(tokens, Logits::all);
    return std::vector<float>(seq.logits().begin(), seq.logits().end());
}

// Perplexity of tokens[1..] under the logits of the positions before them (double precision).
double perplexity(const std::vector<float>& logits, const std::vector<int32_t>& tokens,
                  int64_t vocab) {
    double nll = 0;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
        const float* row = logits.data() + int64_t(i) * vocab;
        double max = -INFINITY, sum = 0;
        for (int64_t j = 0; j < vocab; ++j) max = std::max(max, double(row[j]));
        for (int64_t j = 0; j < vocab; ++j) sum += std::exp(double(row[j]) - max);
        nll += max + std::log(sum) - double(row[tokens[i + 1]]);
    }
    return std::exp(nll / double(tokens.size() - 1));
}

// The bounds README.md states for each type (about 3x the measured figures, which the test
// prints): bf16 keeps 8 significant bits, f16 11, so bf16's error is about 8x f16's.
struct Bound {
    DType type;
    double max_abs_logit;  // largest |logit - f32 logit| over all positions and the vocabulary
    double ppl_rel;        // |ppl - f32 ppl| / f32 ppl
};
const Bound k_bounds[] = {{DType::f16, 0.01, 3e-5}, {DType::bf16, 0.08, 1e-3}};

TEST(KvTypeAccuracy, LogitsAndPerplexityStayWithinTheStatedBounds) {
    const std::vector<int32_t> tokens = heldout_tokens(320);
    const int64_t vocab = brown()->spec().vocab_size;
    const std::vector<float> ref = all_logits(DType::f32, tokens);
    double scale = 0;
    for (float x : ref) scale = std::max(scale, double(std::fabs(x)));
    const double ppl_ref = perplexity(ref, tokens, vocab);
    for (const Bound& b : k_bounds) {
        SCOPED_TRACE(dtype_name(b.type));
        const std::vector<float> got = all_logits(b.type, tokens);
        ASSERT_EQ(got.size(), ref.size());
        double max_abs = 0;
        for (size_t i = 0; i < got.size(); ++i)
            max_abs = std::max(max_abs, double(std::fabs(got[i] - ref[i])));
        const double ppl = perplexity(got, tokens, vocab);
        const double ppl_rel = std::fabs(ppl - ppl_ref) / ppl_ref;
        std::printf(
            "kv %-4s over %zu tokens: max |logit diff| %.2e (logit scale %.1f), perplexity %.4f "
            "vs f32 %.4f (relative %.2e)\n",
            std::string(dtype_name(b.type)).c_str(), tokens.size(), max_abs, scale, ppl, ppl_ref,
            ppl_rel);
        EXPECT_LE(max_abs, b.max_abs_logit);
        EXPECT_LE(ppl_rel, b.ppl_rel);
        EXPECT_GT(max_abs, 0.0) << "the type changed nothing: is it stored at all?";
    }
}

// Greedy decoding, one token per call (each attending over the stored cache).
std::vector<int32_t> greedy(DType kv_type, const std::vector<int32_t>& prompt, int n) {
    Engine engine(brown(), LayerPlan::identity(int(brown()->spec().n_layers)),
                  with_kv_type(kv_type));
    Sequence seq(engine);
    seq.prefill(prompt, Logits::last);
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i) {
        const auto l = seq.last_logits();
        const int32_t next = int32_t(std::max_element(l.begin(), l.end()) - l.begin());
        out.push_back(next);
        const std::vector<int32_t> one{next};
        seq.prefill(one, Logits::last);
    }
    return out;
}

TEST(KvTypeAccuracy, GreedyContinuationIsTheSame) {
    const std::vector<int32_t> prompt = heldout_tokens(64);
    const std::vector<int32_t> want = greedy(DType::f32, prompt, 48);
    EXPECT_EQ(greedy(DType::f16, prompt, 48), want);
    EXPECT_EQ(greedy(DType::bf16, prompt, 48), want);
}

TEST(KvTypeAccuracy, HalfTypesHalveTheBytesPerPosition) {
    const int n_layers = int(brown()->spec().n_layers);
    EngineOptions f32 = with_kv_type(DType::f32);
    f32.kv_budget_bytes = int64_t(8) << 20;
    Engine e32(brown(), LayerPlan::identity(n_layers), f32);
    for (DType type : {DType::f16, DType::bf16}) {
        EngineOptions half = f32;
        half.kv_type = type;
        Engine e16(brown(), LayerPlan::identity(n_layers), half);
        EXPECT_EQ(e16.kv().type(), type);
        EXPECT_EQ(2 * e16.kv().bytes_per_token(), e32.kv().bytes_per_token());
        EXPECT_EQ(2 * e16.kv().bytes_per_block(), e32.kv().bytes_per_block());
        EXPECT_EQ(e16.kv().n_blocks(), 2 * e32.kv().n_blocks());
    }
    // 12 instances x 2 (K, V) x 2 KV heads x 32 head_dim x 4 bytes.
    EXPECT_EQ(e32.kv().bytes_per_token(), 12 * 2 * 2 * 32 * 4);
}

}  // namespace
}  // namespace encore
