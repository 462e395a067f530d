// Pieces of the tokenizer with facts that do not need the reference library: UTF-8 validation
// and Rust's lossy conversion, the Oniguruma meaning of `\s` kept under PCRE2, BOS/EOS facts read
// from the configuration files beside tokenizer.json, and encoding from several threads at once.
#include <gtest/gtest.h>

#include <thread>

#include "core/error.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"
#include "tokenizer_test_util.h"

namespace encore {
namespace {

TEST(Utf8, FindInvalid) {
    EXPECT_FALSE(utf8::find_invalid("").has_value());
    EXPECT_FALSE(utf8::find_invalid("plain \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80").has_value());
    EXPECT_EQ(utf8::find_invalid("ab\x80"), 2u);            // lone continuation byte
    EXPECT_EQ(utf8::find_invalid("\xC3"), 0u);              // truncated
    EXPECT_EQ(utf8::find_invalid("x\xC1\xBF"), 1u);         // overlong
    EXPECT_EQ(utf8::find_invalid("xy\xED\xBF\xBF"), 2u);    // surrogate
    EXPECT_EQ(utf8::find_invalid("\xF5\x80\x80\x80"), 0u);  // beyond U+10FFFF
}

TEST(Utf8, LossyConversionReplacesMaximalInvalidParts) {
    // The example of Rust's String::from_utf8_lossy documentation.
    EXPECT_EQ(utf8::from_bytes_lossy("Hello \xF0\x90\x80World"), "Hello \xEF\xBF\xBDWorld");
    EXPECT_EQ(utf8::from_bytes_lossy("ok"), "ok");
    // Each byte that cannot start a sequence is replaced on its own.
    EXPECT_EQ(utf8::from_bytes_lossy("\x80\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");
    // A valid prefix is one replacement; the byte that breaks it starts anew.
    EXPECT_EQ(utf8::from_bytes_lossy("\xE2\x82"
                                     "A"),
              "\xEF\xBF\xBD"
              "A");
}

TEST(Regex, WhiteSpaceHasOnigurumaMeaning) {
    Regex space = Regex::compile("\\s", "test");
    auto count = [&](const std::string& s) { return space.find_all(s).size(); };
    EXPECT_EQ(count("\xC2\xA0"), 1u);      // U+00A0 no-break space (Zs)
    EXPECT_EQ(count("\xE3\x80\x80"), 1u);  // U+3000 ideographic space (Zs)
    EXPECT_EQ(count("\xC2\x85"), 1u);      // U+0085 next line
    EXPECT_EQ(count("\xE2\x80\xA8"), 1u);  // U+2028 line separator (Zl)
    EXPECT_EQ(count("\xE1\xA0\x8E"), 0u);  // U+180E Mongolian vowel separator (Cf)
    EXPECT_EQ(count("\xE2\x80\x8B"), 0u);  // U+200B zero width space (Cf)
    Regex not_space_class = Regex::compile("[^\\s\\p{L}]+", "test");
    EXPECT_EQ(not_space_class.find_all("ab\xE1\xA0\x8E!").size(), 1u);
    EXPECT_EQ(onig_to_pcre2("a\\sb[\\s]\\S"),
              "a[\\t-\\r\\x{85}\\p{Z}]b[\\t-\\r\\x{85}\\p{Z}][^\\t-\\r\\x{85}\\p{Z}]");
}

TEST(Regex, LiteralPatternsAreEscaped) {
    Regex dot = Regex::literal(".", "test");
    EXPECT_EQ(dot.find_all("a.b.c").size(), 2u);
    Regex backslash_s = Regex::literal("\\s", "test");
    EXPECT_EQ(backslash_s.find_all("a b \\s").size(), 1u);
}

TEST(Config, BosAndEosOfTheTestTokenizers) {
    struct Want {
        const char* name;
        std::optional<int32_t> bos;
        std::vector<int32_t> eos;
        std::vector<int32_t> prefix;
    };
    for (const Want& w : std::vector<Want>{{"llama2", 1, {2}, {1}},
                                           {"llama3", 128000, {128001}, {}},
                                           {"qwen3", std::nullopt, {151645}, {}},
                                           {"brown", 0, {1}, {0}}}) {
        for (const auto& c : test::tokenizer_cases()) {
            if (std::string(c.name) != w.name) continue;
            Tokenizer tok = Tokenizer::from_file(test::source_path(c.path));
            EXPECT_EQ(tok.bos_id(), w.bos) << w.name;
            EXPECT_EQ(tok.eos_ids(), w.eos) << w.name;
            EXPECT_EQ(tok.prefix_ids(), w.prefix) << w.name;
            EXPECT_TRUE(tok.suffix_ids().empty()) << w.name;
        }
    }
}

TEST(Empty, DefaultTokenizerHasNoTokens) {
    Tokenizer tok;
    EXPECT_EQ(tok.vocab_size(), 0);
    EXPECT_TRUE(tok.encode("anything").empty());
    EXPECT_EQ(tok.decode({}), "");
    EXPECT_THROW(tok.decode({0}), Error);
}

TEST(Threads, ConcurrentEncodingGivesTheSameIds) {
    Tokenizer tok =
        Tokenizer::from_file(test::source_path("tests/data/tokenizers/qwen3/tokenizer.json.gz"));
    std::vector<std::string> corpus = test::read_corpus();
    std::vector<std::vector<int32_t>> want;
    {
        Tokenizer fresh = Tokenizer::from_file(
            test::source_path("tests/data/tokenizers/qwen3/tokenizer.json.gz"));
        for (const std::string& text : corpus) want.push_back(fresh.encode(text));
    }
    std::vector<int> n_bad(4, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (size_t k = 0; k < corpus.size(); ++k) {
                size_t i = (k * 11 + size_t(t) * 131) % corpus.size();  // different orders
                if (tok.encode(corpus[i]) != want[i]) ++n_bad[size_t(t)];
            }
        });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) EXPECT_EQ(n_bad[size_t(t)], 0) << "thread " << t;
}

}  // namespace
}  // namespace encore
