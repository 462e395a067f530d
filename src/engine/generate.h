// Text generation on a Sequence: sample, append, repeat, until EOS, a stop string or the token
// limit. Newly decoded text is streamed through a callback as soon as it forms complete UTF-8.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "engine/sequence.h"

namespace encore {

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

// The sequence must hold the prompt with the logits of its last token kept (Logits::last).
GenerateResult generate(Sequence& seq, Sampler& sampler, const GenerateOptions& options,
                        const std::function<void(const std::string&)>& on_text = {});

}  // namespace encore
