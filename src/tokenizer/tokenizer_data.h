// The tokenizer as GGUF stores it (`tokenizer.ggml.*` metadata), in a form that knows neither
// GGUF nor tokenizer.json: the model layer fills it from GGUF metadata to build a Tokenizer, and a
// Tokenizer produces it for `encore convert` to write into GGUF.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace encore {

struct GgufTokenizerData {
    std::string model;                // tokenizer.ggml.model: "llama" (SentencePiece) or "gpt2"
    std::string pre;                  // tokenizer.ggml.pre: pre-tokenizer name ("llama-bpe", "qwen2", ...)
    std::vector<std::string> tokens;  // tokenizer.ggml.tokens
    std::vector<float> scores;        // tokenizer.ggml.scores (may be empty for gpt2)
    std::vector<int32_t> token_types; // tokenizer.ggml.token_type: 1 normal, 2 unknown, 3 control,
                                      // 4 user defined, 5 unused, 6 byte
    std::vector<std::string> merges;  // tokenizer.ggml.merges ("a b" per entry)
    std::optional<int64_t> bos_id, eos_id, unk_id, pad_id;
    std::optional<bool> add_bos, add_eos;
};

}  // namespace encore
