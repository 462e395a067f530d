// The metrics of a sweep, computed from a plan's per-window / per-item values, and their deltas
// to the unmodified model with paired bootstrap confidence intervals: the same resampled set of
// windows (or prompts) is applied to the plan and to the base, so the interval reflects how the
// delta varies over the inputs, not the spread of either side. The resampling is seeded, so a
// result never depends on when or where a plan was measured.
//
//   ppl             exp(sum of window NLLs / predicted tokens)       lower is better
//   gen_early_stop  share of samples with EOS before --min-tokens     lower is better
//   gen_repeat4     mean share of a sample's 4-grams seen earlier     lower is better
//   gen_distinct2   mean share of a sample's distinct bigrams         higher is better
//   rubric_expected    mean over items of the expected score           higher is better
//   rubric_label_mass  mean over items of the probability on labels    higher is better
//   choice_acc, choice_acc_norm  share of records answered right       higher is better
#pragma once

#include <map>
#include <string>
#include <vector>

#include "sweep/probes.h"

namespace encore {

struct MetricDef {
    std::string name, label;
    bool lower_is_better = true;
};

// The metrics the configured probes produce, in report order.
std::vector<MetricDef> sweep_metrics(const ProbeConfig& config);

struct MetricResult {
    double value = 0, delta = 0, ci_lo = 0, ci_hi = 0;  // ci: 95% interval of the delta
};

constexpr int kBootstrapResamples = 2000;

// Every metric of `plan`, with delta and interval against `base` (the base itself: 0, [0, 0]).
std::map<std::string, MetricResult> compute_metrics(const PlanMeasurement& plan,
                                                    const PlanMeasurement& base, bool plan_is_base);

// The paired bootstrap of a ratio metric f(sum num / sum den): the 2.5% and 97.5% quantiles of
// f(plan resample) - f(base resample) over kBootstrapResamples resamples of the items.
struct RatioSeries {
    std::vector<double> num, den;  // [n_items]
};
std::pair<double, double> paired_bootstrap_ci(const RatioSeries& plan, const RatioSeries& base,
                                              bool exp_of_ratio, uint64_t seed);

}  // namespace encore
