// Sampler: picks the next token from logits. temperature 0 is greedy (argmax, lowest id on
// ties); otherwise the usual filters are applied in llama.cpp's order — top-k, top-p (nucleus),
// min-p (relative to the most likely token) — then temperature, then a draw from a seeded
// generator, so a given seed reproduces a run.
#pragma once

#include <cstdint>
#include <random>
#include <span>

namespace encore {

struct SamplerOptions {
    float temperature = 0.8f;
    int top_k = 40;        // 0 = off
    float top_p = 0.95f;   // 1 = off
    float min_p = 0.05f;   // 0 = off
    uint64_t seed = 0;
};

class Sampler {
public:
    explicit Sampler(SamplerOptions options);
    int32_t sample(std::span<const float> logits /*[vocab]*/);
    static int32_t argmax(std::span<const float> logits);

private:
    SamplerOptions options_;
    std::mt19937_64 rng_;
};

}  // namespace encore
