// Bad input fails with encore::Error of the right kind and a message naming what is wrong:
// invalid UTF-8 text (with the byte offset), token ids outside the vocabulary, unreadable files,
// and malformed or unsupported tokenizer.json content (with the file name and JSON field).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace encore {
namespace {

using nlohmann::json;

// A tiny valid byte-level tokenizer.json.
json tiny() {
    return json::parse(R"({
        "version": "1.0",
        "added_tokens": [{"id": 6, "content": "<s>", "single_word": false, "lstrip": false,
                          "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [6], "tokens": ["<s>"]}}},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3, "c": 4, "Ġab": 5},
                  "merges": ["a b", "Ġ ab"]}
    })");
}

template <typename F>
void expect_error(F&& f, ErrorKind kind, const std::vector<std::string>& needles) {
    try {
        f();
        ADD_FAILURE() << "no error; expected one mentioning " << needles.front();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), kind) << e.what();
        for (const std::string& needle : needles) {
            EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
                << "message '" << e.what() << "' lacks '" << needle << "'";
        }
    }
}

void expect_json_error(const json& doc, ErrorKind kind, const std::vector<std::string>& needles) {
    expect_error([&] { Tokenizer::from_json_string(doc.dump(), "bad.json"); }, kind, needles);
}

TEST(Errors, TinyTokenizerWorks) {
    Tokenizer tok = Tokenizer::from_json_string(tiny().dump(), "tiny.json");
    EXPECT_EQ(tok.encode("ab ab"), (std::vector<int32_t>{6, 2, 5}));
    EXPECT_EQ(tok.encode("ab<s>c", false), (std::vector<int32_t>{2, 6, 4}));
    EXPECT_EQ(tok.decode({6, 2, 5}), "<s>ab ab");
    EXPECT_EQ(tok.decode({6, 2, 5}, true), "ab ab");
    EXPECT_EQ(tok.vocab_size(), 7);
    EXPECT_EQ(tok.bos_id(), 6);
    EXPECT_TRUE(tok.is_special(6));
    EXPECT_FALSE(tok.is_special(2));
}

TEST(Errors, InvalidUtf8TextNamesTheByteOffset) {
    Tokenizer tok = Tokenizer::from_json_string(tiny().dump(), "tiny.json");
    struct Case {
        std::string text;
        size_t offset;
    };
    for (const Case& c : std::vector<Case>{{"ab\xFF"
                                            "c",
                                            2},
                                           {"\xE2\x82", 0},            // truncated
                                           {"abc\xC0\x80", 3},         // overlong
                                           {"a\xED\xA0\x80", 1},       // surrogate
                                           {"aa\xF4\x90\x80\x80", 2},  // above U+10FFFF
                                           {"ok \xE2\x82\xAC then \x80", 12}}) {
        expect_error([&] { tok.encode(c.text); }, ErrorKind::invalid_argument,
                     {"not valid UTF-8", "byte offset " + std::to_string(c.offset), "tiny.json"});
    }
    EXPECT_NO_THROW(tok.encode(std::string("a\0b", 3)));  // NUL is valid UTF-8
}

TEST(Errors, OutOfRangeIds) {
    Tokenizer tok = Tokenizer::from_json_string(tiny().dump(), "tiny.json");
    expect_error([&] { tok.decode({0, 7}); }, ErrorKind::out_of_range, {"token id 7"});
    expect_error([&] { tok.decode({-1}); }, ErrorKind::out_of_range, {"token id -1"});
    expect_error([&] { tok.id_to_token(1000); }, ErrorKind::out_of_range, {"token id 1000"});
    EXPECT_FALSE(tok.is_special(-5));
    EXPECT_FALSE(tok.token_to_id("zzz").has_value());
}

TEST(Errors, UnreadableFiles) {
    expect_error([] { Tokenizer::from_file("/nonexistent/tokenizer.json"); }, ErrorKind::io,
                 {"/nonexistent/tokenizer.json"});
}

TEST(Errors, MalformedJson) {
    expect_error([] { Tokenizer::from_json_string("{\"model\": ", "cut.json"); }, ErrorKind::format,
                 {"cut.json", "not valid JSON"});
    expect_error([] { Tokenizer::from_json_string("", "empty.json"); }, ErrorKind::format,
                 {"empty.json"});
    expect_json_error(json::array(), ErrorKind::format, {"bad.json", "expected an object"});
    expect_json_error(json::object(), ErrorKind::format, {"bad.json", "model", "missing"});

    json d = tiny();
    d["model"]["vocab"] = json::array();
    expect_json_error(d, ErrorKind::format, {"bad.json", "model.vocab", "expected an object"});
    d = tiny();
    d["model"]["vocab"]["a"] = "zero";
    expect_json_error(d, ErrorKind::format, {"model.vocab", "expected an integer"});
    d = tiny();
    d["model"]["vocab"]["a"] = -3;
    expect_json_error(d, ErrorKind::format, {"model.vocab", "-3"});
    d = tiny();
    d["model"]["merges"].push_back("a zz");
    expect_json_error(d, ErrorKind::format, {"merge 2", "'zz' is not in the vocabulary"});
    d = tiny();
    d["model"]["merges"].push_back("a b c");
    expect_json_error(d, ErrorKind::format, {"model.merges[2]", "one space"});
    d = tiny();
    d["model"]["merges"] = json::array({json::array({"a"})});
    expect_json_error(d, ErrorKind::format, {"model.merges[0]"});
    d = tiny();
    d["model"]["unk_token"] = 5;
    expect_json_error(d, ErrorKind::format, {"model.unk_token", "expected a string"});
    d = tiny();
    d["added_tokens"][0].erase("content");
    expect_json_error(d, ErrorKind::format, {"added_tokens[0].content", "missing"});
    d = tiny();
    d["post_processor"]["single"][0]["SpecialToken"]["id"] = "<x>";
    expect_json_error(d, ErrorKind::format, {"'<x>'", "special_tokens"});
    d = tiny();
    d["pre_tokenizer"] = {{"type", "Split"},
                          {"pattern", {{"Regex", "(unclosed"}}},
                          {"behavior", "Isolated"},
                          {"invert", false}};
    expect_json_error(d, ErrorKind::format, {"pre_tokenizer.pattern.Regex", "(unclosed"});
    d = tiny();
    d["pre_tokenizer"] = {
        {"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Sideways"}};
    expect_json_error(d, ErrorKind::format, {"Sideways"});
    d = tiny();
    d["decoder"] = {{"type", "Strip"}, {"content", "ab"}, {"start", 1}, {"stop", 0}};
    expect_json_error(d, ErrorKind::format, {"decoder.content", "one character"});
    d = tiny();
    json nested = {{"type", "NFC"}};
    for (int i = 0; i < 100; ++i) nested = {{"type", "Sequence"}, {"normalizers", {nested}}};
    d["normalizer"] = nested;
    expect_json_error(d, ErrorKind::format, {"nested"});
}

TEST(Errors, UnsupportedComponents) {
    json d = tiny();
    d["model"]["type"] = "WordPiece";
    expect_json_error(d, ErrorKind::unsupported, {"bad.json", "model", "WordPiece"});
    d = tiny();
    d["normalizer"] = {{"type", "BertNormalizer"}};
    expect_json_error(d, ErrorKind::unsupported, {"normalizer", "BertNormalizer"});
    d = tiny();
    d["pre_tokenizer"] = {{"type", "Punctuation"}};
    expect_json_error(d, ErrorKind::unsupported, {"pre_tokenizer", "Punctuation"});
    d = tiny();
    d["decoder"] = {{"type", "CTC"}};
    expect_json_error(d, ErrorKind::unsupported, {"decoder", "CTC"});
    d = tiny();
    d["post_processor"] = {{"type", "Unknown"}};
    expect_json_error(d, ErrorKind::unsupported, {"post_processor", "Unknown"});
    d = tiny();
    d["model"]["dropout"] = 0.1;
    expect_json_error(d, ErrorKind::unsupported, {"dropout"});
}

TEST(Errors, MissingUnknownTokenIsReportedWhenNeeded) {
    json d = tiny();
    d["model"]["unk_token"] = "<unk>";  // not in the vocabulary
    Tokenizer tok = Tokenizer::from_json_string(d.dump(), "unk.json");
    EXPECT_EQ(tok.encode("ab", false), (std::vector<int32_t>{2}));
    expect_error([&] { tok.encode("xyz", false); }, ErrorKind::format, {"<unk>"});
}

TEST(Errors, ToGgufRefusesPipelinesWithoutAGgufName) {
    json d = tiny();
    d["pre_tokenizer"] = {{"type", "Split"},
                          {"pattern", {{"Regex", "\\w+"}}},
                          {"behavior", "Isolated"},
                          {"invert", false}};
    Tokenizer tok = Tokenizer::from_json_string(d.dump(), "odd.json");
    expect_error([&] { tok.to_gguf(); }, ErrorKind::unsupported, {"odd.json"});
}

}  // namespace
}  // namespace encore
