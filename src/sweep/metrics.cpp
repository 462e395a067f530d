// Sweep metrics and paired bootstrap intervals (see metrics.h).
#include "sweep/metrics.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace encore {

namespace {

// splitmix64: a small generator whose sequence is fixed by its seed on every platform.
uint64_t next_random(uint64_t& state) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double ratio_value(const RatioSeries& s, bool exp_of_ratio) {
    double num = 0, den = 0;
    for (size_t k = 0; k < s.num.size(); ++k) num += s.num[k], den += s.den[k];
    const double r = den > 0 ? num / den : NAN;
    return exp_of_ratio ? std::exp(r) : r;
}

RatioSeries mean_series(const std::vector<double>& values) {
    return {values, std::vector<double>(values.size(), 1.0)};
}

}  // namespace

std::vector<MetricDef> sweep_metrics(const ProbeConfig& config) {
    std::vector<MetricDef> out;
    if (!config.ppl_file.empty()) out.push_back({"ppl", "perplexity", true});
    if (!config.prompts_file.empty()) {
        out.push_back({"gen_early_stop", "early-stop share", true});
        out.push_back({"gen_repeat4", "repeated 4-gram share", true});
        out.push_back({"gen_distinct2", "distinct-2", false});
    }
    if (!config.rubric_file.empty()) {
        out.push_back({"rubric_expected", "mean expected score", false});
        out.push_back({"rubric_label_mass", "mean label mass", false});
    }
    if (!config.choices_file.empty()) {
        out.push_back({"choice_acc", "accuracy", false});
        out.push_back({"choice_acc_norm", "accuracy (per byte)", false});
    }
    return out;
}

std::pair<double, double> paired_bootstrap_ci(const RatioSeries& plan, const RatioSeries& base,
                                              bool exp_of_ratio, uint64_t seed) {
    const size_t n = plan.num.size();
    ENCORE_ASSERT(n == base.num.size() && n > 0);
    std::vector<double> deltas(kBootstrapResamples);
    uint64_t state = seed;
    for (int b = 0; b < kBootstrapResamples; ++b) {
        double pn = 0, pd = 0, bn = 0, bd = 0;
        for (size_t k = 0; k < n; ++k) {
            const size_t x = size_t(next_random(state) % n);
            pn += plan.num[x], pd += plan.den[x], bn += base.num[x], bd += base.den[x];
        }
        double pv = pd > 0 ? pn / pd : NAN, bv = bd > 0 ? bn / bd : NAN;
        if (exp_of_ratio) pv = std::exp(pv), bv = std::exp(bv);
        deltas[size_t(b)] = pv - bv;
    }
    std::sort(deltas.begin(), deltas.end());
    auto quantile = [&](double q) {  // linear interpolation between order statistics
        const double pos = q * double(deltas.size() - 1);
        const size_t lo = size_t(pos);
        const size_t hi = std::min(lo + 1, deltas.size() - 1);
        return deltas[lo] + (deltas[hi] - deltas[lo]) * (pos - double(lo));
    };
    return {quantile(0.025), quantile(0.975)};
}

std::map<std::string, MetricResult> compute_metrics(const PlanMeasurement& plan,
                                                    const PlanMeasurement& base,
                                                    bool plan_is_base) {
    std::map<std::string, MetricResult> out;
    auto add = [&](const std::string& name, const RatioSeries& p, const RatioSeries& b,
                   bool exp_of_ratio, uint64_t seed) {
        MetricResult r;
        r.value = ratio_value(p, exp_of_ratio);
        if (!plan_is_base) {
            r.delta = r.value - ratio_value(b, exp_of_ratio);
            std::tie(r.ci_lo, r.ci_hi) = paired_bootstrap_ci(p, b, exp_of_ratio, seed);
        }
        out[name] = r;
    };
    if (!plan.window_nll.empty()) {
        if (base.window_nll.size() != plan.window_nll.size())
            fail(ErrorKind::internal, "internal error: base and plan measured other windows");
        auto series = [](const PlanMeasurement& m) {
            RatioSeries s{m.window_nll, {}};
            for (int64_t t : m.window_tokens) s.den.push_back(double(t));
            return s;
        };
        add("ppl", series(plan), series(base), true, 1);
    }
    if (!plan.early_stop.empty()) {
        if (base.early_stop.size() != plan.early_stop.size())
            fail(ErrorKind::internal, "internal error: base and plan measured other prompts");
        add("gen_early_stop", mean_series(plan.early_stop), mean_series(base.early_stop), false, 2);
        add("gen_repeat4", mean_series(plan.repeat4), mean_series(base.repeat4), false, 3);
        add("gen_distinct2", mean_series(plan.distinct2), mean_series(base.distinct2), false, 4);
    }
    if (!plan.rubric_expected.empty()) {
        if (base.rubric_expected.size() != plan.rubric_expected.size())
            fail(ErrorKind::internal, "internal error: base and plan scored other items");
        add("rubric_expected", mean_series(plan.rubric_expected), mean_series(base.rubric_expected),
            false, 5);
        add("rubric_label_mass", mean_series(plan.rubric_mass), mean_series(base.rubric_mass),
            false, 6);
    }
    if (!plan.choice_acc.empty()) {
        if (base.choice_acc.size() != plan.choice_acc.size())
            fail(ErrorKind::internal, "internal error: base and plan scored other records");
        add("choice_acc", mean_series(plan.choice_acc), mean_series(base.choice_acc), false, 7);
        add("choice_acc_norm", mean_series(plan.choice_acc_norm), mean_series(base.choice_acc_norm),
            false, 8);
    }
    return out;
}

}  // namespace encore
