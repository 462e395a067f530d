// Encoding speed on 1 MB of English text (the held-out Brown text repeated), for every test
// tokenizer. The time is printed and recorded as a test property, never asserted on: timings
// depend on the machine. The encoding must decode back to the text (all four decoders are
// lossless on this ASCII-only text).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace encore {
namespace {

std::string one_megabyte_of_text() {
    std::string source = read_file(test::source_path("assets/brown-llama-12l/heldout.txt"));
    std::string text;
    while (text.size() < (1u << 20)) text += source;
    text.resize(1u << 20);
    while (!text.empty() && (static_cast<unsigned char>(text.back()) & 0xC0) == 0x80)
        text.pop_back();
    if (!text.empty() && static_cast<unsigned char>(text.back()) >= 0xC0) text.pop_back();
    return text;
}

class Speed : public ::testing::TestWithParam<test::TokenizerCase> {};

TEST_P(Speed, EncodeOneMegabyte) {
    Tokenizer tok = Tokenizer::from_file(test::source_path(GetParam().path));
    std::string text = one_megabyte_of_text();
    auto t0 = std::chrono::steady_clock::now();
    std::vector<int32_t> ids = tok.encode(text, false);
    auto t1 = std::chrono::steady_clock::now();
    std::vector<int32_t> again = tok.encode(text, false);  // word cache warm
    auto t2 = std::chrono::steady_clock::now();
    double cold_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    double warm_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
    std::printf(
        "[ timing   ] %s: encode %zu bytes -> %zu tokens: %.1f ms (cold cache), %.1f ms "
        "(warm)\n",
        GetParam().name, text.size(), ids.size(), cold_ms, warm_ms);
    RecordProperty("encode_1mb_cold_ms", std::to_string(cold_ms));
    RecordProperty("encode_1mb_warm_ms", std::to_string(warm_ms));
    EXPECT_EQ(ids, again);
    EXPECT_EQ(tok.decode(ids), text);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Speed, ::testing::ValuesIn(test::tokenizer_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace encore
