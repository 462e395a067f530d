// Agreement with Hugging Face `tokenizers` (tests/data/goldens/tokenizer, made by
// tools/goldens/tokenizer_goldens.py): for every test tokenizer and every corpus string, both
// encodings (with and without special tokens) and both decodings (keeping and skipping special
// tokens) must equal the library's, and so must the decodings of the extra id lists (random ids,
// byte tokens, cut UTF-8).
#include <gtest/gtest.h>

#include <filesystem>

#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace encore {
namespace {

using test::show;

class Golden : public ::testing::TestWithParam<test::TokenizerCase> {
  protected:
    std::string golden_path(const std::string& suffix) const {
        return test::source_path(std::string("tests/data/goldens/tokenizer/") + GetParam().name +
                                 suffix);
    }
};

TEST_P(Golden, EncodeAndDecodeMatchCorpus) {
    const std::string path = golden_path(".jsonl");
    if (!std::filesystem::exists(path)) {
        GTEST_SKIP() << "golden file " << path << " is missing: run "
                     << "tools/goldens/tokenizer_goldens.py where `tokenizers` is installed";
    }
    Tokenizer tok = Tokenizer::from_file(test::source_path(GetParam().path));
    std::vector<std::string> corpus = test::read_corpus();
    std::vector<nlohmann::json> goldens = test::read_jsonl(path);
    ASSERT_EQ(goldens.size(), corpus.size()) << "golden file and corpus disagree in length";

    int n_bad = 0;
    int n_ok = 0;
    for (size_t i = 0; i < corpus.size(); ++i) {
        const std::string& text = corpus[i];
        const auto& g = goldens[i];
        const std::string diff = test::golden_mismatch(tok, text, g);
        if (diff.empty()) {
            ++n_ok;
            continue;
        }
        if (++n_bad > 8) continue;  // report the first mismatches only
        const std::string msg =
            "corpus line " + std::to_string(i + 1) + " " + show(text) + ":" + diff;
        ADD_FAILURE() << GetParam().name << ": " << msg;
    }
    EXPECT_EQ(n_bad, 0) << GetParam().name << ": " << n_bad << " of " << corpus.size()
                        << " corpus strings differ from HF tokenizers";
    RecordProperty("matched", n_ok);
}

TEST_P(Golden, DecodeVectorsMatch) {
    const std::string path = golden_path(".decode.jsonl");
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "golden file " << path << " is missing";
    Tokenizer tok = Tokenizer::from_file(test::source_path(GetParam().path));
    int n_bad = 0;
    size_t line = 0;
    for (const auto& g : test::read_jsonl(path)) {
        ++line;
        auto ids = g.at("ids").get<std::vector<int32_t>>();
        auto got_d = tok.decode(ids, false);
        auto got_s = tok.decode(ids, true);
        auto want_d = g.at("d").get<std::string>();
        auto want_s = g.at("s").get<std::string>();
        if (got_d == want_d && got_s == want_s) continue;
        if (++n_bad > 8) continue;
        ADD_FAILURE() << GetParam().name << ": decode vector line " << line << " "
                      << test::show(ids) << "\n  skip=false want " << show(want_d)
                      << "\n             got  " << show(got_d) << "\n  skip=true  want "
                      << show(want_s) << "\n             got  " << show(got_s);
    }
    EXPECT_EQ(n_bad, 0);
}

TEST_P(Golden, MetaFactsMatch) {
    const std::string path = golden_path(".meta.json");
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "golden file " << path << " is missing";
    Tokenizer tok = Tokenizer::from_file(test::source_path(GetParam().path));
    nlohmann::json meta = nlohmann::json::parse(read_file(path));
    EXPECT_EQ(tok.vocab_size(), meta.at("max_id").get<int32_t>() + 1);
    for (const auto& [token, id] : meta.at("token_to_id").items()) {
        if (id.is_null()) {
            EXPECT_FALSE(tok.token_to_id(token).has_value()) << token;
        } else {
            EXPECT_EQ(tok.token_to_id(token), id.get<int32_t>()) << token;
        }
    }
    for (const auto& [id, token] : meta.at("id_to_token").items()) {
        if (!token.is_null()) {
            EXPECT_EQ(tok.id_to_token(std::stoi(id)), token.get<std::string>());
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Golden, ::testing::ValuesIn(test::tokenizer_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace encore
