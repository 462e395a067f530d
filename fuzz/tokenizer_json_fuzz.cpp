// libFuzzer target: the input bytes are a tokenizer.json. Parsing must either succeed or fail with
// an encore::Error; a tokenizer that parses must encode and decode a few strings (and survive a
// GGUF round trip) with every failure again an encore::Error. Anything else (another exception,
// a crash, a sanitizer report) is a bug. Seeds: fuzz/corpus/tokenizer_json/.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace {

const char* const k_texts[] = {
    "",
    "Hello world",
    " leading and trailing  ",
    "<s> </s> <|begin_of_text|> <|im_start|>",
    "caf\xC3\xA9 e\xCC\x81 \xE6\x97\xA5\xE6\x9C\xAC 12345 it's \xF0\x9F\x98\x80",
    "\xE2\x96\x81x\tline\r\nnext <0x41>",
    "bad \xFF utf8",
};

void exercise(const encore::Tokenizer& tok) {
    for (const char* text : k_texts) {
        for (bool add_special : {true, false}) {
            try {
                std::vector<int32_t> ids = tok.encode(text, add_special);
                tok.decode(ids, false);
                tok.decode(ids, true);
            } catch (const encore::Error&) {
            }
        }
    }
    try {
        tok.decode({0, 1, 2, tok.vocab_size() - 1});
    } catch (const encore::Error&) {
    }
    try {
        encore::Tokenizer back = encore::Tokenizer::from_gguf(tok.to_gguf());
        back.encode(k_texts[1]);
    } catch (const encore::Error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view json(reinterpret_cast<const char*>(data), size);
    try {
        encore::Tokenizer tok = encore::Tokenizer::from_json_string(json, "fuzz.json");
        exercise(tok);
    } catch (const encore::Error&) {
    }
    return 0;
}
