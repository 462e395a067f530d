// Agreement with Hugging Face `tokenizers` on variant tokenizers (tests/data/goldens/tokenizer/
// variants, made by tools/goldens/tokenizer_goldens.py): a real tokenizer.json with some top-level
// components replaced, to exercise what the four real files do not use (added-token lstrip /
// rstrip / single_word / normalized, NFKC / NFD / Lowercase / Strip / regex Replace normalizers,
// ByteLevel with the GPT-2 regex and prefix space, Split behaviors, Digits, WhitespaceSplit,
// Metaspace, post-processor sequences). The folder can be overridden with the environment
// variable ENCORE_TOKENIZER_VARIANTS_DIR.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace encore {
namespace {

std::string variants_dir() {
    if (const char* dir = std::getenv("ENCORE_TOKENIZER_VARIANTS_DIR")) return dir;
    return test::source_path("tests/data/goldens/tokenizer/variants");
}

std::vector<std::string> variant_names() {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(variants_dir(), ec)) {
        if (entry.path().extension() == ".json") names.push_back(entry.path().stem().string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

const test::TokenizerCase* base_case(const std::string& name) {
    for (const auto& c : test::tokenizer_cases()) {
        if (name == c.name) return &c;
    }
    return nullptr;
}

TEST(Variants, MatchHuggingFace) {
    std::vector<std::string> names = variant_names();
    if (names.empty()) {
        GTEST_SKIP() << "no variant goldens in " << variants_dir()
                     << ": run tools/goldens/tokenizer_goldens.py where `tokenizers` is installed";
    }
    for (const std::string& name : names) {
        SCOPED_TRACE(name);
        nlohmann::json spec =
            nlohmann::json::parse(read_file(variants_dir() + "/" + name + ".json"));
        const test::TokenizerCase* base = base_case(spec.at("base").get<std::string>());
        ASSERT_NE(base, nullptr) << spec.at("base");
        nlohmann::json doc = nlohmann::json::parse(read_file(test::source_path(base->path)));
        for (const auto& [key, value] : spec.at("patch").items()) doc[key] = value;
        Tokenizer tok = Tokenizer::from_json_string(doc.dump(), name);

        int n_bad = 0, n_lines = 0;
        for (const auto& g : test::read_jsonl(variants_dir() + "/" + name + ".jsonl")) {
            ++n_lines;
            auto text = g.at("t").get<std::string>();
            const std::string diff = test::golden_mismatch(tok, text, g);
            if (diff.empty()) continue;
            if (++n_bad > 6) continue;
            ADD_FAILURE() << name << " line " << n_lines << " " << test::show(text) << diff;
        }
        EXPECT_EQ(n_bad, 0) << name << ": " << n_bad << " of " << n_lines << " strings differ";
        std::printf("[ variant  ] %s: %d of %d strings match\n", name.c_str(), n_lines - n_bad,
                    n_lines);
    }
}

}  // namespace
}  // namespace encore
