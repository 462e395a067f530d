// Shared helpers of the tokenizer tests: paths of the test tokenizers, the corpus and goldens,
// JSON-lines reading, and printable renderings of strings and id lists for failure messages.
#pragma once

#include <nlohmann/json.hpp>

#include <ostream>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "tokenizer/tokenizer.h"

namespace encore::test {

struct TokenizerCase {
    const char* name;  // golden file stem
    const char* path;  // relative to the repository root
};

// Parameterized test names and messages show the tokenizer's name.
inline void PrintTo(const TokenizerCase& c, std::ostream* os) {
    *os << c.name;
}

inline const std::vector<TokenizerCase>& tokenizer_cases() {
    static const std::vector<TokenizerCase> cases = {
        {"llama2", "tests/data/tokenizers/llama2/tokenizer.json.gz"},
        {"llama3", "tests/data/tokenizers/llama3/tokenizer.json.gz"},
        {"qwen3", "tests/data/tokenizers/qwen3/tokenizer.json.gz"},
        {"brown", "assets/brown-llama-12l/tokenizer.json"},
    };
    return cases;
}

inline std::string source_path(const std::string& relative) {
    return std::string(ENCORE_SOURCE_DIR) + "/" + relative;
}

// One JSON value per non-empty line ('\n' only: the corpus holds U+2028 and other separators).
inline std::vector<nlohmann::json> read_jsonl(const std::string& path) {
    std::string text = read_file(path);
    std::vector<nlohmann::json> out;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        if (end > pos) out.push_back(nlohmann::json::parse(text.substr(pos, end - pos)));
        pos = end + 1;
    }
    return out;
}

inline std::vector<std::string> read_corpus() {
    std::vector<std::string> texts;
    for (const auto& line : read_jsonl(source_path("tests/data/tokenizer_corpus.jsonl"))) {
        texts.push_back(line.at("text").get<std::string>());
    }
    return texts;
}

// A printable rendering of `s` (JSON escapes), cut to `max_chars`.
inline std::string show(const std::string& s, size_t max_chars = 160) {
    std::string j =
        nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (j.size() > max_chars) j = j.substr(0, max_chars) + "...";
    return j;
}

inline std::string show(const std::vector<int32_t>& ids, size_t max_ids = 40) {
    std::string out = "[";
    for (size_t i = 0; i < ids.size() && i < max_ids; ++i) {
        if (i) out += ",";
        out += std::to_string(ids[i]);
    }
    if (ids.size() > max_ids) out += ",... (" + std::to_string(ids.size()) + " ids)";
    return out + "]";
}

// `ids[from, from + n)` rendered with its position, for showing where two lists differ.
inline std::string show_window(const std::vector<int32_t>& ids, size_t from, size_t n = 24) {
    std::string out = "[";
    out += std::to_string(from);
    out += ": ";
    for (size_t i = from; i < ids.size() && i < from + n; ++i) {
        if (i > from) out += ",";
        out += std::to_string(ids[i]);
    }
    return out + (from + n < ids.size() ? ",...]" : "]");
}

// Index of the first difference of two id lists (or the shorter length).
inline size_t first_difference(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    return i;
}

// Compares one golden line (fields a, n: encodings with and without special tokens; d, s:
// decodings of n keeping and of a skipping special tokens) with `tok` on `text`. Returns "" when
// all four agree, else what differs, one part per line.
inline std::string golden_mismatch(const Tokenizer& tok, const std::string& text,
                                   const nlohmann::json& g) {
    const auto want_a = g.at("a").get<std::vector<int32_t>>();
    const auto want_n = g.at("n").get<std::vector<int32_t>>();
    const auto want_d = g.at("d").get<std::string>();
    const auto want_s = g.at("s").get<std::string>();
    const auto got_a = tok.encode(text, true);
    const auto got_n = tok.encode(text, false);
    const auto got_d = tok.decode(want_n, false);
    const auto got_s = tok.decode(want_a, true);
    std::string msg;
    if (got_n != want_n) {
        const size_t at = first_difference(got_n, want_n);
        const size_t from = at > 8 ? at - 8 : 0;
        msg += "\n  encode(add_special=false) differs at index " + std::to_string(at) +
               "\n    want " + show_window(want_n, from) + "\n    got  " + show_window(got_n, from);
    }
    if (got_a != want_a)
        msg +=
            "\n  encode(add_special=true)\n    want " + show(want_a) + "\n    got  " + show(got_a);
    if (got_d != want_d)
        msg += "\n  decode(skip_special=false)\n    want " + show(want_d) + "\n    got  " +
               show(got_d);
    if (got_s != want_s)
        msg +=
            "\n  decode(skip_special=true)\n    want " + show(want_s) + "\n    got  " + show(got_s);
    return msg;
}

}  // namespace encore::test
