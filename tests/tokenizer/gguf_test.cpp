// The GGUF form of the tokenizers: to_gguf gives the fields GGUF stores (model, pre, token types,
// BOS/EOS), and from_gguf(to_gguf()) encodes and decodes the whole corpus exactly as the
// tokenizer.json it came from. Also the SentencePiece path without merges (priority from scores)
// and the errors of malformed GGUF tokenizer data.
#include <gtest/gtest.h>

#include <cstdio>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace encore {
namespace {

class GgufRoundTrip : public ::testing::TestWithParam<test::TokenizerCase> {};

TEST_P(GgufRoundTrip, EncodesCorpusIdentically) {
    Tokenizer original = Tokenizer::from_file(test::source_path(GetParam().path));
    GgufTokenizerData data = original.to_gguf();
    Tokenizer back = Tokenizer::from_gguf(data);
    EXPECT_EQ(back.vocab_size(), original.vocab_size());
    EXPECT_EQ(back.bos_id(), original.bos_id());
    EXPECT_EQ(back.eos_ids(), original.eos_ids());
    int n_bad = 0;
    for (const std::string& text : test::read_corpus()) {
        for (bool add_special : {true, false}) {
            auto want = original.encode(text, add_special);
            auto got = back.encode(text, add_special);
            if (want != got) {
                if (++n_bad <= 5) {
                    ADD_FAILURE() << GetParam().name << " " << test::show(text)
                                  << " add_special=" << add_special << "\n  want "
                                  << test::show(want) << "\n  got  " << test::show(got);
                }
                continue;
            }
            if (!add_special) {
                EXPECT_EQ(back.decode(got, false), original.decode(want, false));
                EXPECT_EQ(back.decode(got, true), original.decode(want, true));
            }
        }
    }
    EXPECT_EQ(n_bad, 0);
    for (int32_t id = 0; id < original.vocab_size(); ++id) {
        ASSERT_EQ(back.is_special(id), original.is_special(id)) << id;
    }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, GgufRoundTrip, ::testing::ValuesIn(test::tokenizer_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

Tokenizer load(const char* name) {
    for (const auto& c : test::tokenizer_cases()) {
        if (std::string(c.name) == name) return Tokenizer::from_file(test::source_path(c.path));
    }
    throw std::runtime_error("no such test tokenizer");
}

TEST(Gguf, FieldsOfTheTestTokenizers) {
    GgufTokenizerData llama2 = load("llama2").to_gguf();
    EXPECT_EQ(llama2.model, "llama");
    EXPECT_EQ(llama2.tokens.size(), 32000u);
    EXPECT_EQ(llama2.tokens[22557], "\xE2\x96\x81Hello");
    EXPECT_EQ(llama2.token_types[0], 2);  // <unk>
    EXPECT_EQ(llama2.token_types[1], 3);  // <s>
    EXPECT_EQ(llama2.token_types[3], 6);  // <0x00>
    EXPECT_EQ(llama2.token_types[22557], 1);
    EXPECT_EQ(llama2.bos_id, 1);
    EXPECT_EQ(llama2.eos_id, 2);
    EXPECT_EQ(llama2.unk_id, 0);
    EXPECT_EQ(llama2.add_bos, true);
    EXPECT_EQ(llama2.add_eos, false);
    EXPECT_EQ(llama2.scores.size(), 32000u);
    EXPECT_EQ(llama2.merges.size(), 58980u);

    GgufTokenizerData llama3 = load("llama3").to_gguf();
    EXPECT_EQ(llama3.model, "gpt2");
    EXPECT_EQ(llama3.pre, "llama-bpe");
    EXPECT_EQ(llama3.tokens.size(), 128256u);
    EXPECT_EQ(llama3.tokens[128000], "<|begin_of_text|>");
    EXPECT_EQ(llama3.token_types[128000], 3);
    EXPECT_EQ(llama3.bos_id, 128000);
    EXPECT_EQ(llama3.add_bos, false);

    GgufTokenizerData qwen3 = load("qwen3").to_gguf();
    EXPECT_EQ(qwen3.pre, "qwen2");
    EXPECT_EQ(qwen3.token_types[151644], 3);  // <|im_start|>
    EXPECT_EQ(qwen3.token_types[151667], 4);  // <think>: added, not special
    EXPECT_FALSE(qwen3.bos_id.has_value());
    EXPECT_EQ(qwen3.eos_id, 151645);

    GgufTokenizerData brown = load("brown").to_gguf();
    EXPECT_EQ(brown.model, "gpt2");
    EXPECT_EQ(brown.pre, "smaug-bpe");  // Llama-3 regex, merges always applied
    EXPECT_EQ(brown.bos_id, 0);
    EXPECT_EQ(brown.eos_id, 1);
    EXPECT_EQ(brown.add_bos, true);
}

TEST(Gguf, SentencePieceFromScoresWithoutMerges) {
    Tokenizer original = load("llama2");
    GgufTokenizerData data = original.to_gguf();
    data.merges.clear();
    Tokenizer from_scores = Tokenizer::from_gguf(data);
    // to_gguf scores each token by the rank of the merge that makes it; on ordinary text merging
    // by score then equals merging by the merges list.
    for (const char* text : {"Hello world", "The quick brown fox jumps over the lazy dog.",
                             "It's 12345 o'clock", "日本語 and émigré"}) {
        EXPECT_EQ(from_scores.encode(text), original.encode(text)) << text;
    }
    EXPECT_EQ(from_scores.encode("Hello"), (std::vector<int32_t>{1, 22557}));
    int n_same = 0, n = 0;
    for (const std::string& text : test::read_corpus()) {
        ++n;
        n_same += from_scores.encode(text) == original.encode(text);
    }
    std::printf(
        "[ scores   ] llama2 without merges: %d of %d corpus strings encode as with "
        "merges\n",
        n_same, n);
    EXPECT_EQ(n_same, n);
}

TEST(Gguf, LlamaPreNamesSelectTheLlama3Regex) {
    GgufTokenizerData data = load("llama3").to_gguf();
    Tokenizer a = Tokenizer::from_gguf(data);
    data.pre = "llama3";
    Tokenizer b = Tokenizer::from_gguf(data);
    const char* text = "Hello world, it's 12345 <|begin_of_text|>!!\n\n  x";
    EXPECT_EQ(a.encode(text), b.encode(text));
    data.pre = "gpt2";  // GPT-2 regex: contractions are case-sensitive
    Tokenizer c = Tokenizer::from_gguf(data);
    EXPECT_NE(c.encode("IT'S"), a.encode("IT'S"));
}

TEST(Gguf, MalformedDataFails) {
    GgufTokenizerData good = load("brown").to_gguf();
    auto expect_error = [](const GgufTokenizerData& d, ErrorKind kind, const char* needle) {
        try {
            Tokenizer::from_gguf(d);
            ADD_FAILURE() << "no error for " << needle;
        } catch (const Error& e) {
            EXPECT_EQ(e.kind(), kind) << e.what();
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
        }
    };
    GgufTokenizerData d = good;
    d.model = "bert";
    expect_error(d, ErrorKind::unsupported, "bert");
    d = good;
    d.pre = "deepseek-coder";
    expect_error(d, ErrorKind::unsupported, "deepseek-coder");
    d = good;
    d.tokens.clear();
    expect_error(d, ErrorKind::format, "empty");
    d = good;
    d.token_types.pop_back();
    expect_error(d, ErrorKind::format, "token_type");
    d = good;
    d.bos_id = 1 << 20;
    expect_error(d, ErrorKind::format, "bos_token_id");
    d = good;
    d.merges[5] = "nospace";
    expect_error(d, ErrorKind::format, "merge 5");
    d = good;
    d.merges[7] = "zzzz qqqq";
    expect_error(d, ErrorKind::format, "not in the vocabulary");
    d = good;
    d.tokens[10] = "bad\xFFutf8";
    expect_error(d, ErrorKind::format, "token 10");
    d = good;
    d.merges.clear();
    d.scores.clear();
    expect_error(d, ErrorKind::format, "merges");
}

}  // namespace
}  // namespace encore
