// Result lines, CSV rows and the run summary of `encore score` (see score_output.h).
#include "score/score_output.h"

#include <cmath>

#include "core/error.h"
#include "score/records.h"

namespace encore {

namespace {

using Json = nlohmann::ordered_json;

std::string column_label(const std::string& text) {
    const size_t b = text.find_first_not_of(" \t\n");
    if (b == std::string::npos) return text;
    const size_t e = text.find_last_not_of(" \t\n");
    return text.substr(b, e - b + 1);
}

std::string number(double x) {
    return fmt::format("{}", x);
}

}  // namespace

std::string result_json_line(const Scorer& scorer, const ItemResult& result) {
    Json scores = Json::object();
    for (size_t c = 0; c < scorer.criteria().size(); ++c) {
        const CompiledCriterion& crit = scorer.criteria()[c];
        const CriterionScore& s = result.scores[c];
        Json labels = Json::array(), values = Json::array();
        for (const CompiledLabel& l : crit.labels) {
            labels.push_back(l.text);
            values.push_back(l.value);
        }
        Json j = {{"labels", labels},           {"values", values},
                  {"logprobs", s.raw.logprobs}, {"probs", s.raw.probs},
                  {"expected", s.raw.expected}, {"argmax", crit.labels[size_t(s.raw.argmax)].text},
                  {"entropy", s.raw.entropy},   {"label_mass", s.raw.label_mass}};
        if (s.calibrated)
            j["calibrated"] = {{"probs", s.calibrated->probs},
                               {"expected", s.calibrated->expected},
                               {"argmax", crit.labels[size_t(s.calibrated->argmax)].text},
                               {"entropy", s.calibrated->entropy}};
        if (s.reason) j["reason"] = *s.reason;
        scores[crit.name] = j;
    }
    Json line = {{"id", result.id}, {"rubric_hash", scorer.hash()}, {"scores", scores}};
    return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::vector<std::string> result_csv_header(const Scorer& scorer) {
    std::vector<std::string> h = {"id", "rubric_hash"};
    for (const CompiledCriterion& c : scorer.criteria()) {
        for (const char* f : {"expected", "argmax", "entropy", "label_mass"})
            h.push_back(c.name + "." + f);
        for (const CompiledLabel& l : c.labels)
            h.push_back(c.name + ".logprob[" + column_label(l.text) + "]");
        for (const CompiledLabel& l : c.labels)
            h.push_back(c.name + ".prob[" + column_label(l.text) + "]");
        if (scorer.calibrated()) {
            h.push_back(c.name + ".calibrated.expected");
            h.push_back(c.name + ".calibrated.argmax");
            for (const CompiledLabel& l : c.labels)
                h.push_back(c.name + ".calibrated.prob[" + column_label(l.text) + "]");
        }
        if (scorer.reasons()) h.push_back(c.name + ".reason");
    }
    return h;
}

std::string result_csv_row(const Scorer& scorer, const ItemResult& result) {
    std::vector<std::string> row = {id_key(result.id), scorer.hash()};
    for (size_t c = 0; c < scorer.criteria().size(); ++c) {
        const CompiledCriterion& crit = scorer.criteria()[c];
        const CriterionScore& s = result.scores[c];
        row.push_back(number(s.raw.expected));
        row.push_back(column_label(crit.labels[size_t(s.raw.argmax)].text));
        row.push_back(number(s.raw.entropy));
        row.push_back(number(s.raw.label_mass));
        for (double x : s.raw.logprobs) row.push_back(number(x));
        for (double x : s.raw.probs) row.push_back(number(x));
        if (scorer.calibrated()) {
            row.push_back(number(s.calibrated->expected));
            row.push_back(column_label(crit.labels[size_t(s.calibrated->argmax)].text));
            for (double x : s.calibrated->probs) row.push_back(number(x));
        }
        if (scorer.reasons()) row.push_back(s.reason.value_or(""));
    }
    return csv_row(row);
}

ScoreSummary::ScoreSummary(const Scorer& scorer, double low_mass) : low_mass_(low_mass) {
    for (const CompiledCriterion& c : scorer.criteria()) {
        Criterion s;
        s.name = c.name;
        for (const CompiledLabel& l : c.labels) s.labels.push_back(l.text);
        s.histogram.assign(c.labels.size(), 0);
        criteria_.push_back(std::move(s));
    }
}

void ScoreSummary::add_one(Criterion& c, double expected, int argmax, double mass) {
    ++c.n;
    c.sum += expected;
    c.sum_sq += expected * expected;
    c.mass_sum += mass;
    if (mass < low_mass_) ++c.low_mass;
    if (argmax >= 0 && argmax < int(c.histogram.size())) ++c.histogram[size_t(argmax)];
}

void ScoreSummary::add(const ItemResult& result) {
    for (size_t c = 0; c < criteria_.size(); ++c) {
        const LabelDistribution& d = result.scores[c].raw;
        add_one(criteria_[c], d.expected, d.argmax, d.label_mass);
    }
}

void ScoreSummary::add_existing(const Json& result) {
    for (Criterion& c : criteria_) {
        double expected = 0, mass = 0;
        std::string argmax;
        try {
            if (result.contains("scores")) {
                const Json& s = result["scores"].at(c.name);
                expected = s.at("expected").get<double>();
                mass = s.at("label_mass").get<double>();
                argmax = s.at("argmax").get<std::string>();
            } else {
                expected = std::stod(result.at(c.name + ".expected").get<std::string>());
                mass = std::stod(result.at(c.name + ".label_mass").get<std::string>());
                argmax = result.at(c.name + ".argmax").get<std::string>();
            }
        } catch (const std::exception&) {
            fail(ErrorKind::format, "an earlier result lacks the scores of criterion '{}'", c.name);
        }
        int index = -1;
        for (size_t l = 0; l < c.labels.size(); ++l)
            if (c.labels[l] == argmax || column_label(c.labels[l]) == argmax) index = int(l);
        add_one(c, expected, index, mass);
    }
}

std::string ScoreSummary::table() const {
    std::string out;
    for (const Criterion& c : criteria_) {
        const double mean = c.n ? c.sum / double(c.n) : 0;
        const double var = c.n ? std::max(0.0, c.sum_sq / double(c.n) - mean * mean) : 0;
        out += fmt::format(
            "{:<16} items {:>6}  mean {:>7.3f}  std {:>7.3f}  label mass {:>6.3f}  "
            "low mass (< {}) {:>4}\n",
            c.name, c.n, mean, std::sqrt(var), c.n ? c.mass_sum / double(c.n) : 0, low_mass_,
            c.low_mass);
        std::string hist = "    argmax:";
        for (size_t l = 0; l < c.labels.size(); ++l)
            hist += fmt::format(" {}={}", column_label(c.labels[l]), c.histogram[l]);
        out += hist + "\n";
    }
    return out;
}

Json ScoreSummary::to_json() const {
    Json out = Json::object();
    for (const Criterion& c : criteria_) {
        const double mean = c.n ? c.sum / double(c.n) : 0;
        const double var = c.n ? std::max(0.0, c.sum_sq / double(c.n) - mean * mean) : 0;
        Json hist = Json::object();
        for (size_t l = 0; l < c.labels.size(); ++l) hist[c.labels[l]] = c.histogram[l];
        out[c.name] = {{"items", c.n},
                       {"mean", mean},
                       {"std", std::sqrt(var)},
                       {"histogram", hist},
                       {"mean_label_mass", c.n ? c.mass_sum / double(c.n) : 0},
                       {"low_mass", c.low_mass},
                       {"low_mass_threshold", low_mass_}};
    }
    return out;
}

}  // namespace encore
