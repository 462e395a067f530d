// The numbers a judge's answer is read as: from the labels' full log-probabilities (each the
// sum over the label's tokens), their softmax over exactly those labels, the probability-weighted
// value, the most likely label, the entropy of the renormalized distribution and the label mass
// (how much of the model's probability fell on the labels at all). Also the contextual
// calibration of Zhao et al. 2021: p(label) / p_cf(label) renormalized, p_cf being the
// distribution of a content-free item.
#pragma once

#include <string>
#include <vector>

namespace encore {

struct LabelDistribution {
    std::vector<double> logprobs;  // [n_labels] full log-probabilities, natural log
    std::vector<double> probs;     // [n_labels] softmax of logprobs (sums to 1)
    double expected = 0;           // sum of probs * values
    int argmax = 0;                // index of the largest prob (the first on ties)
    double entropy = 0;            // of probs, nats
    double label_mass = 0;         // sum of exp(logprobs)
};

// `logprobs` and `values` have one entry per label.
LabelDistribution label_distribution(const std::vector<double>& logprobs,
                                     const std::vector<double>& values);

// probs / cf_probs renormalized (logprobs left empty, label_mass that of `raw`).
LabelDistribution calibrated_distribution(const LabelDistribution& raw,
                                          const std::vector<double>& cf_probs,
                                          const std::vector<double>& values);

}  // namespace encore
