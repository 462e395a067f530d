// The regular expressions of tokenizer.json (Split pre-tokenizers, Replace normalizers and
// decoders), compiled with PCRE2 in UTF + UCP mode and JIT-compiled. The `tokenizers` library runs
// these patterns with Oniguruma, so this wrapper reproduces Oniguruma's meaning where the two
// engines differ: `\s` / `\S` are rewritten to Oniguruma's Unicode white-space set (TAB..CR, NEL
// and the Z categories; PCRE2 would also match U+180E), and `find_all` skips an empty match that
// directly follows the previous match, as the `onig` crate's `find_iter` does.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace encore {

class Regex {
  public:
    Regex() = default;
    // Compiles `pattern`; a bad pattern fails with ErrorKind::format naming `what`.
    static Regex compile(std::string_view pattern, std::string_view what);
    // A pattern that matches `literal` exactly.
    static Regex literal(std::string_view literal, std::string_view what);

    bool valid() const { return code_ != nullptr; }
    const std::string& pattern() const { return pattern_; }

    // All non-overlapping matches in `text` (valid UTF-8), as byte offsets [start, end).
    std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

  private:
    std::string pattern_;
    std::shared_ptr<void> code_;  // pcre2_code_8
    bool jit_ = false;
};

// Rewrites Oniguruma-specific escapes of `pattern` into PCRE2 syntax with the same meaning.
std::string onig_to_pcre2(std::string_view pattern);

}  // namespace encore
