// The tokenizer of encore: text <-> token ids exactly as Hugging Face `tokenizers` computes them
// for a tokenizer.json (byte-level BPE as in Llama 3 / Qwen, SentencePiece-style BPE with byte
// fallback as in Llama 2 / Mistral), or as described by GGUF `tokenizer.ggml.*` metadata.
// Pipeline of encode: added tokens split out of the raw text -> normalizer -> pre-tokenizer ->
// BPE per word -> post-processor ids (BOS/EOS) when add_special. A Tokenizer is cheap to copy
// (shared, immutable state plus an internally synchronized word cache) and safe to use from
// several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer_data.h"

namespace encore {

struct TokenizerImpl;

class Tokenizer {
  public:
    // Reads a tokenizer.json (or .json.gz) and, when present beside it, tokenizer_config.json
    // (bos_token / eos_token) and generation_config.json (eos_token_id: more end-of-sequence
    // ids). Errors: ErrorKind::io (unreadable), format (malformed JSON or fields), unsupported
    // (components encore does not implement).
    static Tokenizer from_file(const std::string& tokenizer_json_path);
    // The same from strings; `name` is used in error messages (a file name, say);
    // `config_json` / `generation_config_json` are the contents of tokenizer_config.json /
    // generation_config.json, or empty.
    static Tokenizer from_json_string(std::string_view json, std::string_view name,
                                      std::string_view config_json = {},
                                      std::string_view generation_config_json = {});
    // From GGUF metadata: model "gpt2" (byte-level BPE; regex chosen by `pre`) or "llama"
    // (SentencePiece-style BPE with byte fallback; merges, or merge priority from scores).
    static Tokenizer from_gguf(const GgufTokenizerData& data);
    // The GGUF form of this tokenizer; from_gguf(to_gguf()) encodes identically. Fails with
    // ErrorKind::unsupported when the pipeline has no GGUF equivalent.
    GgufTokenizerData to_gguf() const;

    // Token ids of `text` (valid UTF-8, else ErrorKind::invalid_argument naming the byte
    // offset). Added/special tokens in the text are matched in both modes; `add_special` adds
    // the post-processor's ids (BOS/EOS), as tokenizers' encode(add_special_tokens=...).
    std::vector<int32_t> encode(std::string_view text, bool add_special = true) const;
    // Text of `ids` through the decoder; `skip_special` drops special added tokens. An id
    // outside [0, vocab_size()) fails with ErrorKind::out_of_range.
    std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const;

    // One more than the largest id (model vocabulary and added tokens).
    int32_t vocab_size() const;
    std::optional<int32_t> token_to_id(std::string_view token) const;
    // The token string of `id` (ErrorKind::out_of_range outside the vocabulary).
    std::string id_to_token(int32_t id) const;
    std::optional<int32_t> bos_id() const;
    std::vector<int32_t> eos_ids() const;
    // Whether `id` is a special added token (dropped by decode(skip_special=true)).
    bool is_special(int32_t id) const;
    // The ids encode(add_special=true) puts before / after the text.
    const std::vector<int32_t>& prefix_ids() const;
    const std::vector<int32_t>& suffix_ids() const;
    // The name given at construction (file path, or "gguf").
    const std::string& name() const;

    // An empty tokenizer (no tokens: every text encodes to nothing); assign a real one later.
    Tokenizer();
    explicit Tokenizer(std::shared_ptr<const TokenizerImpl> impl);

  private:
    std::shared_ptr<const TokenizerImpl> impl_;
};

}  // namespace encore
