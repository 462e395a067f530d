// Scorer: a rubric compiled against a model's tokenizer and run on an Engine. This is the API
// the CLI (`encore score`), sweeps and the server call.
//
//   Scorer scorer(engine, rubric, tokenizer, chat);   compiles every criterion, prefills each
//                                                     criterion's prefix once (no logits) and, if
//                                                     the rubric calibrates, scores its
//                                                     content-free record
//   PreparedItem p = scorer.prepare(record, n);       fills the slots, tokenizes and checks the
//                                                     item (missing field, empty record, too
//                                                     long for the context, a label merging with
//                                                     the item's end): errors name record n
//   ItemResult r = scorer.score(p);                   one item
//   std::vector<ItemResult> rs = scorer.score_batch(items);   a batch, results in input order
//   scorer.score_stream(next, on_batch);              items pulled from `next` until it returns
//                                                     nullopt, scored options.batch_size at a
//                                                     time; on_batch gets each batch's results
//
// Execution: per criterion, every item of a batch is a fork of the prefix sequence (cut back to
// the tokens the item's own tokenization shares with the prefix) and all forks are evaluated in
// one Engine::eval, keeping only the last row's logits. A label of several tokens is a second
// fork of the item evaluated with all of its rows but the last. A label's log-probability is
// the sum over its tokens (each after the previous ones), in double precision. A rationale
// (rubric `reason`) is decoded by all items of the batch together, one token per eval.
//
// Kernels compute each row in an order that depends neither on the batch nor on the cache
// state, so an item's scores are bitwise the same whatever else is in its batch and whatever was
// scored before; naive_label_logprobs() (the full prompt in a fresh sequence) equals them.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "chat/chat_template.h"
#include "engine/engine.h"
#include "engine/sequence.h"
#include "score/label_distribution.h"
#include "score/rubric.h"
#include "tokenizer/tokenizer.h"

namespace encore {

struct CompiledLabel {
    std::string text;
    double value = 0;
    std::vector<int32_t> tokens;  // in context (see label_tokens.h)
};

// One criterion ready to run: its texts split around the item and its tokens.
struct CompiledCriterion {
    std::string name;
    std::string head;                    // text before each item (chat: the opened user turn)
    std::string item_template;           // the item, filled per record
    std::string tail;                    // after the item (chat: turn end + assistant opening),
                                         // then the cue; the whole context's trailing
                                         // whitespace moves to the labels
    std::vector<int32_t> lead_tokens;    // BOS when not chat (a chat template writes its own)
    std::vector<int32_t> prefix_tokens;  // lead_tokens + encode(head)
    std::vector<CompiledLabel> labels;
    std::vector<int32_t> then_tokens;  // rationale: appended after it, before the labels
    std::vector<double> cf_probs;      // calibration: the content-free item's probs
};

// Compiles `rubric` (labels tokenized in context; collisions and merges with the cue are
// errors naming the labels). `chat` is required when rubric.chat.
std::vector<CompiledCriterion> compile_rubric(const Rubric& rubric, const Tokenizer& tokenizer,
                                              const ModelChat* chat);

struct PreparedItem {
    nlohmann::ordered_json id;                 // the record's "id", else its record number
    int64_t record = 0;                        // 1-based, named in errors
    std::vector<std::vector<int32_t>> tokens;  // [n_criteria] the whole prompt, up to the cue
};

struct CriterionScore {
    LabelDistribution raw;
    std::optional<LabelDistribution> calibrated;
    std::optional<std::string> reason;
};

struct ItemResult {
    nlohmann::ordered_json id;
    std::vector<CriterionScore> scores;  // [n_criteria]
};

struct ScorerOptions {
    int64_t batch_size = 32;  // items per Engine::eval (halved when the KV pool runs out)
};

class Scorer {
  public:
    Scorer(Engine& engine, const Rubric& rubric, const Tokenizer& tokenizer,
           const ModelChat* chat = nullptr, ScorerOptions options = {});
    // From compiled criteria (prompts given as tokens: benchmarks and tests). No rationale,
    // no calibration, no prepare() (items are given as tokens).
    Scorer(Engine& engine, std::vector<CompiledCriterion> criteria, ScorerOptions options = {});
    ~Scorer();

    PreparedItem prepare(const nlohmann::ordered_json& record, int64_t record_number) const;
    ItemResult score(const PreparedItem& item);
    std::vector<ItemResult> score_batch(std::span<const PreparedItem> items);
    void score_stream(const std::function<std::optional<PreparedItem>()>& next,
                      const std::function<void(std::vector<ItemResult>&)>& on_batch);

    const std::vector<CompiledCriterion>& criteria() const { return criteria_; }
    bool calibrated() const { return calibrated_; }
    bool reasons() const { return reason_.has_value(); }
    // 16 hex digits over the canonical rubric, the model's identity, the layer plan and (when not
    // f32) the KV storage type.
    const std::string& hash() const { return hash_; }

  private:
    void start();  // the prefixes and the calibration, once
    void score_criterion(size_t c, std::span<const PreparedItem> items,
                         std::vector<ItemResult>& out);

    Engine& engine_;
    Tokenizer tokenizer_;
    std::vector<CompiledCriterion> criteria_;
    std::optional<ReasonDef> reason_;
    ScorerOptions options_;
    std::string hash_;
    bool calibrated_ = false;
    bool from_text_ = false;
    std::vector<std::unique_ptr<Sequence>> bases_;  // [n_criteria] the prefilled prefixes
    std::optional<PreparedItem> calibration_item_;  // scored by start()
};

// The plain computation of one item's label log-probabilities, the reference for tests and
// benchmarks: the whole prompt in a fresh sequence (Logits::last) for the labels' first
// tokens, and for every label of several tokens the whole prompt plus its tokens but the last
// in another fresh sequence (all logits). Run it on an engine with the prefix cache off.
std::vector<double> naive_label_logprobs(Engine& engine, std::span<const int32_t> prompt,
                                         const std::vector<CompiledLabel>& labels);

// log softmax(logits)[target] in double precision, given the row's log-sum-exp.
double row_log_sum_exp(std::span<const float> logits /*[vocab]*/);

}  // namespace encore
