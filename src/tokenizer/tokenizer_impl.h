// The parts of a Tokenizer (internal to src/tokenizer): normalizer, pre-tokenizer, BPE model,
// added tokens, post-processor and decoder, plus the BOS/EOS facts. Filled by tokenizer_json.cpp
// (tokenizer.json) and tokenizer_gguf.cpp (GGUF metadata), run by tokenizer.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"

namespace encore {

struct TokenizerImpl {
    std::string name;
    std::optional<Normalizer> normalizer;
    std::optional<PreTokenizer> pre_tokenizer;
    BpeModel model;
    AddedVocabulary added;
    PostProcessor post;
    std::optional<Decoder> decoder;
    std::optional<int32_t> bos;
    std::vector<int32_t> eos;
    std::vector<float> scores;  // from GGUF, kept for to_gguf

    // Derived by finish(): per id, the added token (index into added.tokens(), or -1).
    std::vector<int32_t> added_index;
    int32_t vocab_size = 0;

    // Builds the added-token matchers and the id tables; call once the parts are set.
    void finish(std::vector<AddedToken> added_tokens);
};

}  // namespace encore
