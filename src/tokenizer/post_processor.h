// Post-processors of tokenizer.json, reduced to what a single sequence needs: the ids put before
// and after the encoded text when encode(add_special=true). TemplateProcessing (its "single"
// template), BertProcessing / RobertaProcessing (cls ... sep), ByteLevel (adds nothing) and
// Sequence of these.
#pragma once

#include <cstdint>
#include <vector>

namespace encore {

struct PostProcessor {
    std::vector<int32_t> prefix;  // ids before the text
    std::vector<int32_t> suffix;  // ids after the text

    // Applies `inner` first, then this one (a Sequence of post-processors).
    void wrap(const PostProcessor& inner) {
        std::vector<int32_t> p = prefix;
        p.insert(p.end(), inner.prefix.begin(), inner.prefix.end());
        std::vector<int32_t> s = inner.suffix;
        s.insert(s.end(), suffix.begin(), suffix.end());
        prefix = std::move(p);
        suffix = std::move(s);
    }
};

}  // namespace encore
