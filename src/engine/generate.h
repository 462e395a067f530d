// Text generation on a Sequence: sample, append, repeat, until EOS, a stop string or the token
// limit. Newly decoded text is streamed through a callback as soon as it forms complete UTF-8.
// `Generation` is the same stop and streaming logic one sampled token at a time, for callers that
// advance many generations in one batched eval (the server's scheduler); generate() is its loop
// over one sequence.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/sequence.h"

namespace encore {

class Tokenizer;

struct GenerateOptions {
    int64_t max_tokens = 128;
    std::vector<std::string> stop_strings;
    bool stop_at_eos = true;
    std::vector<int32_t> stop_tokens;  // more ids that end generation as EOS does (end of turn)
};

struct GenerateResult {
    std::vector<int32_t> tokens;  // generated ids (an EOS that stopped generation included)
    std::string text;             // their text, cut before a stop string that ended the run
    std::string stop_reason;      // "eos", "stop_string", "max_tokens"
};

class Generation {
  public:
    // `model` gives the tokenizer and the end-of-sequence ids (spec and tokenizer).
    Generation(const Model& model, GenerateOptions options);
    // Takes the next sampled token (only while !done()). Returns the text that became ready to
    // stream: complete UTF-8 that cannot be the start of a stop string ("" if none).
    std::string push(int32_t token);
    // Ended by EOS or a stop string (the last pushed token is then not to be evaluated).
    bool stopped() const { return stopped_; }
    // Stopped, or max_tokens pushed.
    bool done() const { return stopped_ || int64_t(result_.tokens.size()) >= options_.max_tokens; }
    // The text not yet returned by push (held back or cut); call once, at the end.
    std::string flush();
    const GenerateResult& result() const { return result_; }

  private:
    const Tokenizer& tokenizer_;
    GenerateOptions options_;
    std::vector<int64_t> eos_;
    GenerateResult result_;
    size_t emitted_ = 0;  // bytes of result_.text already returned
    size_t hold_ = 0;     // bytes held back because they may start a stop string
    bool stopped_ = false;
};

// The sequence must hold the prompt with the logits of its last token kept (Logits::last).
GenerateResult generate(Sequence& seq, Sampler& sampler, const GenerateOptions& options,
                        const std::function<void(const std::string&)>& on_text = {});

}  // namespace encore
