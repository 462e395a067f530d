// The probes of a sweep and how one plan is measured by them:
//  - perplexity: the first W windows of a text file, cut as `encore perplexity` cuts them
//    ([BOS] + ctx-1 tokens each); per window its summed NLL and predicted-token count;
//  - generation: one sample per prompt (greedy unless sampling options are given), with
//    per-prompt degeneration values: early stop (EOS before min_tokens), the share of repeated
//    4-grams, distinct-2;
//  - rubric: items scored by src/score's Scorer; per item the expected score and the label mass
//    (each averaged over the rubric's criteria);
//  - multiple choice: records scored by src/score's choose_batch; per record acc and acc_norm.
// With stem reuse, the unmodified model's run of each probe input captures a StemState, and every
// other plan starts its forward pass over that input at the first instance where its layer list
// departs from the base's (Engine::eval_stem); the results are bitwise those of a full pass.
// The rubric and choice probes evaluate through the Scorer and choose_batch (a prefix prefilled
// once, items forked from it, several per eval): there the base's engine records every
// evaluation's state in a StemStore and the other plans' engines consult it (see
// engine/stem_store.h), so the prefix, each item's suffix after it, and each choice after its
// context start after the shared instances too. All these states share one byte budget (the
// windows' and prompts' first, in order, then the store's): an input whose state does not fit is
// computed from layer 0 by every plan, with the same results.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "engine/engine.h"
#include "engine/sampler.h"
#include "engine/stem.h"
#include "engine/stem_store.h"
#include "score/choose.h"
#include "score/rubric.h"

namespace encore {

struct ProbeConfig {
    std::string ppl_file;  // "" = no perplexity probe
    int64_t ppl_ctx = 256;
    int64_t ppl_windows = 0;   // the first W windows; 0 = all
    std::string prompts_file;  // "" = no generation probe; one prompt per line
    int64_t gen_tokens = 32;
    int64_t min_tokens = 8;  // an EOS before this many generated tokens is an early stop
    bool greedy = true;      // else `sampling` (seeded per prompt)
    SamplerOptions sampling;
    std::string rubric_file, items_file;  // rubric probe (both or neither)
    std::string choices_file;             // multiple-choice probe
    bool any() const {
        return !ppl_file.empty() || !prompts_file.empty() || !rubric_file.empty() ||
               !choices_file.empty();
    }
};

// The tokenised probe inputs, shared by every plan.
struct ProbeInputs {
    std::vector<std::vector<int32_t>> windows;  // [W] each [BOS] + chunk
    std::vector<std::string> prompts;
    std::vector<std::vector<int32_t>> prompt_ids;  // with BOS
    std::string ppl_sha, prompts_sha;              // fingerprints of the files' contents
    int64_t ppl_tokens = 0;                        // tokens predicted over all windows
    std::shared_ptr<const Rubric> rubric;          // rubric probe
    std::shared_ptr<const ModelChat> chat;         // when the rubric is a chat rubric
    std::vector<nlohmann::ordered_json> items;     // its item records
    std::vector<int64_t> item_numbers;             // their record numbers (named in errors)
    std::string rubric_sha, items_sha;
    std::vector<ChoiceItem> choices;  // multiple-choice probe, every record with a gold answer
    std::string choices_sha;
};
// Reads and tokenises the probe files; a missing or empty file is a one-line error naming it.
ProbeInputs load_probe_inputs(const ProbeConfig& config, const Model& model);

struct GenSample {
    std::string prompt, text, stop_reason;
    std::vector<int32_t> tokens;
};

// What a plan gives on each probe input (the per-window / per-item values).
struct PlanMeasurement {
    std::vector<double> window_nll;                      // [W]
    std::vector<int64_t> window_tokens;                  // [W]
    std::vector<GenSample> samples;                      // [prompts]
    std::vector<double> early_stop, repeat4, distinct2;  // [prompts]
    std::vector<double> rubric_expected, rubric_mass;    // [items]
    std::vector<double> choice_acc, choice_acc_norm;     // [choice records]
    nlohmann::json to_json() const;  // per_item of a results row (samples not included)
    static PlanMeasurement from_json(const nlohmann::json& per_item);
};

// The unmodified model's stem states of every probe input.
struct BaseStems {
    int64_t budget_bytes = -1;  // what every state below may take together (-1: no bound)
    std::vector<StemState> windows, prompts;  // a state not kept (over the budget) has no memory
    // The rubric and choice probes' evaluations, made by measure_plan when it captures with
    // capture_scoring and those probes are given, with the budget the windows and prompts left
    // (null: none).
    bool capture_scoring = true;
    std::shared_ptr<StemStore> scoring;
};

// Measures `engine`'s plan. `capture`: fill it (the engine must run the unmodified model).
// `from`: start each input's forward pass after the instances this plan shares with the base.
// At most one of the two is set.
PlanMeasurement measure_plan(Engine& engine, const ProbeInputs& inputs, const ProbeConfig& config,
                             BaseStems* capture, const BaseStems* from);

// Degeneration values of one generated token list (EOS excluded).
double repeated_4gram_share(const std::vector<int32_t>& tokens);  // 0 with fewer than 4 tokens
double distinct_2(const std::vector<int32_t>& tokens);            // 1 with fewer than 2 tokens

}  // namespace encore
