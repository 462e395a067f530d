// Label distributions and their calibration (see label_distribution.h). Double precision.
#include "score/label_distribution.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace encore {

namespace {

void fill_from_probs(LabelDistribution& d, const std::vector<double>& values) {
    d.expected = 0;
    d.entropy = 0;
    d.argmax = 0;
    for (size_t i = 0; i < d.probs.size(); ++i) {
        d.expected += d.probs[i] * values[i];
        if (d.probs[i] > 0) d.entropy -= d.probs[i] * std::log(d.probs[i]);
        if (d.probs[i] > d.probs[size_t(d.argmax)]) d.argmax = int(i);
    }
}

}  // namespace

LabelDistribution label_distribution(const std::vector<double>& logprobs,
                                     const std::vector<double>& values) {
    ENCORE_ASSERT(logprobs.size() == values.size() && !logprobs.empty());
    LabelDistribution d;
    d.logprobs = logprobs;
    const double top = *std::max_element(logprobs.begin(), logprobs.end());
    double sum = 0;
    d.probs.resize(logprobs.size());
    for (size_t i = 0; i < logprobs.size(); ++i) {
        d.probs[i] = std::exp(logprobs[i] - top);
        sum += d.probs[i];
        d.label_mass += std::exp(logprobs[i]);
    }
    for (double& p : d.probs) p /= sum;
    fill_from_probs(d, values);
    return d;
}

LabelDistribution calibrated_distribution(const LabelDistribution& raw,
                                          const std::vector<double>& cf_probs,
                                          const std::vector<double>& values) {
    ENCORE_ASSERT(cf_probs.size() == raw.probs.size());
    LabelDistribution d;
    d.label_mass = raw.label_mass;
    // In log space: log p - log p_cf, so that tiny probabilities neither vanish nor overflow.
    std::vector<double> log_ratio(raw.probs.size());
    for (size_t i = 0; i < raw.probs.size(); ++i)
        log_ratio[i] = std::log(raw.probs[i]) - std::log(cf_probs[i]);
    const double top = *std::max_element(log_ratio.begin(), log_ratio.end());
    double sum = 0;
    d.probs.resize(log_ratio.size());
    for (size_t i = 0; i < log_ratio.size(); ++i)
        sum += (d.probs[i] = std::exp(log_ratio[i] - top));
    for (double& p : d.probs) p /= sum;
    fill_from_probs(d, values);
    return d;
}

}  // namespace encore
