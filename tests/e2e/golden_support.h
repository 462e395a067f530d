// Helpers for tests against the transformers goldens in tests/data/goldens/models: listing the
// variants, reading golden.json and logits.safetensors, comparing logits relative to the
// reference's logit scale, and the greedy continuation the goldens hold for each plan.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/sampler.h"
#include "engine/sequence.h"
#include "formats/safetensors.h"

namespace encore::testing {

inline std::string golden_root() {
    return std::string(ENCORE_SOURCE_DIR) + "/tests/data/goldens/models";
}

inline std::vector<std::string> golden_variants(bool include_brown = false) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(golden_root()))
        if (e.is_directory() && (include_brown || e.path().filename() != "brown"))
            names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// The checkpoint a golden directory was made from: the directory itself for the random
// variants, the bundled model for "brown".
inline std::string model_dir_for(const std::string& variant) {
    if (variant == "brown") return std::string(ENCORE_SOURCE_DIR) + "/assets/brown-llama-12l";
    return golden_root() + "/" + variant;
}

inline nlohmann::json read_golden(const std::string& dir) {
    std::ifstream in(dir + "/golden.json");
    return nlohmann::json::parse(in);
}

// A JSON array of token ids.
inline std::vector<int32_t> ids_of(const nlohmann::json& j) {
    return j.get<std::vector<int32_t>>();
}

// `n` tokens chosen by argmax after `prompt`, ending early at a token of `stop` (kept).
inline std::vector<int32_t> greedy(Engine& engine, const std::vector<int32_t>& prompt, size_t n,
                                   const std::vector<int64_t>& stop) {
    Sequence seq(engine);
    seq.prefill(prompt, Logits::last);
    std::vector<int32_t> out;
    while (out.size() < n) {
        const int32_t next = Sampler::argmax(seq.last_logits());
        out.push_back(next);
        if (std::find(stop.begin(), stop.end(), next) != stop.end()) break;
        seq.prefill(std::span(&out.back(), 1), Logits::last);
    }
    return out;
}

// Reference logits of one plan, [n_tokens * vocab].
inline std::vector<float> golden_logits(const std::string& dir, const std::string& plan) {
    const SafetensorsFile file(dir + "/logits.safetensors");
    const TensorView& t = file.get("logits." + plan);
    const float* p = static_cast<const float*>(t.data);
    return std::vector<float>(p, p + t.n_elements());
}

// max |ours - ref| / max |ref|: error relative to the logit scale of the reference.
inline double relative_to_scale(std::span<const float> ours, std::span<const float> ref) {
    EXPECT_EQ(ours.size(), ref.size());
    double max_err = 0, scale = 0;
    for (size_t i = 0; i < std::min(ours.size(), ref.size()); ++i) {
        if (!std::isfinite(ours[i])) return INFINITY;
        max_err = std::max(max_err, std::fabs(double(ours[i]) - double(ref[i])));
        scale = std::max(scale, std::fabs(double(ref[i])));
    }
    return max_err / scale;
}

}  // namespace encore::testing
