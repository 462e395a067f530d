// Multiple choice in the style of lm-evaluation-harness `multiple_choice`: a record is
// {"id"?, "context", "choices": [...], "gold"?}; each choice is scored by the summed
// log-likelihood of its tokens after the context (tokens in context, see label_tokens.h), and the
// answer is the argmax by that sum (acc) and by log-likelihood per byte of the choice (acc_norm).
// The context is computed once per record; the choices are forks of it, evaluated together with
// those of the other records of a batch.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "engine/engine.h"
#include "tokenizer/tokenizer.h"

namespace encore {

struct ChoiceItem {
    nlohmann::ordered_json id;
    int64_t record = 0;
    std::vector<int32_t> context;               // BOS + the context's tokens
    std::vector<std::vector<int32_t>> choices;  // each choice's tokens in context
    std::vector<int64_t> n_bytes;               // each choice's UTF-8 bytes
    std::optional<int64_t> gold;
};

struct ChoiceResult {
    nlohmann::ordered_json id;
    std::vector<double> logliks;
    std::vector<int64_t> n_tokens, n_bytes;
    int64_t argmax = 0, argmax_norm = 0;  // by sum, by sum per byte (first on ties)
    std::optional<int64_t> gold;
};

// Checks and tokenizes a record (errors name the record number and the field or choice).
ChoiceItem prepare_choice(const Tokenizer& tokenizer, const nlohmann::ordered_json& record,
                          int64_t record_number, int64_t max_position);

// Scores a batch: every context prefilled in one eval, every choice of more than one token a
// fork evaluated in a second one.
std::vector<ChoiceResult> choose_batch(Engine& engine, std::span<const ChoiceItem> items);

nlohmann::ordered_json choice_result_json(const ChoiceResult& r, const std::string& hash);

}  // namespace encore
