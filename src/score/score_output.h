// What `encore score` writes: one result per item as a JSON line or a CSV row, and the summary
// per criterion (mean and std of the expected value, histogram of the argmax labels, mean label
// mass, how many items put less than a threshold of mass on the labels) as a table and as JSON.
//
// JSON line: {"id": .., "rubric_hash": "..", "scores": {"<criterion>": {"labels": [..],
//   "values": [..], "logprobs": [..], "probs": [..], "expected": x, "argmax": "<label>",
//   "entropy": h, "label_mass": m, "calibrated"?: {"probs", "expected", "argmax", "entropy"},
//   "reason"?: ".."}}}
// CSV columns: id, rubric_hash, then per criterion c: c.expected, c.argmax, c.entropy,
//   c.label_mass, c.logprob[L] and c.prob[L] per label L (its text without surrounding
//   spaces), c.calibrated.expected, c.calibrated.argmax and c.calibrated.prob[L] when
//   calibrating, c.reason with a rationale.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "score/scorer.h"

namespace encore {

std::string result_json_line(const Scorer& scorer, const ItemResult& result);
std::vector<std::string> result_csv_header(const Scorer& scorer);
std::string result_csv_row(const Scorer& scorer, const ItemResult& result);

class ScoreSummary {
  public:
    ScoreSummary(const Scorer& scorer, double low_mass);
    void add(const ItemResult& result);
    // A result already in the output file (a JSON line or a CSV row as column -> text).
    void add_existing(const nlohmann::ordered_json& result);
    // The table for stderr.
    std::string table() const;
    nlohmann::ordered_json to_json() const;

  private:
    struct Criterion {
        std::string name;
        std::vector<std::string> labels;
        int64_t n = 0;
        double sum = 0, sum_sq = 0, mass_sum = 0;
        int64_t low_mass = 0;
        std::vector<int64_t> histogram;  // [n_labels] argmax counts
    };
    void add_one(Criterion& c, double expected, int argmax, double mass);
    std::vector<Criterion> criteria_;
    double low_mass_;
};

}  // namespace encore
