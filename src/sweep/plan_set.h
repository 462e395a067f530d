// The plans of a sweep: built from RYS ranges (`--plans rys` with block-length and i/j limits),
// from layer specs (`--plan SPEC`, any --layers form) and from plan files (one spec per line, or
// a mergekit passthrough YAML), then canonicalised (a plan is its layer list) and deduplicated.
// The unmodified model ("base") is always the first plan; a single-block RYS layer list is named
// "rys:I,J" whichever way it was written, any other plan by its compact layer spec.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "model/layer_plan.h"

namespace encore {

struct SweepPlan {
    std::string name;         // "base", "rys:I,J" or the compact spec ("0-5,3-11")
    std::optional<int> i, j;  // the repeated block [i, j) of a single-block RYS plan
    LayerPlan plan;
    bool is_base() const { return name == "base"; }
};

// Limits of `--plans rys`: every 0 <= i < j <= n_layers with i, j and j - i within the ranges
// (inclusive; -1 = no limit).
struct RysRange {
    int min_block = 1, max_block = -1;
    int i_min = -1, i_max = -1, j_min = -1, j_max = -1;
};

// Parses "A-B" or "A" (inclusive) for --i-range/--j-range; `option` is named in errors.
void parse_index_range(const std::string& text, const std::string& option, int& lo, int& hi);

class PlanSetBuilder {
  public:
    explicit PlanSetBuilder(int n_layers) : n_layers_(n_layers) {}
    void add_rys(const RysRange& range);
    // Any --layers spec; `origin` (e.g. "--plan" or "plans.txt:3") is named in errors.
    void add_spec(const std::string& spec, const std::string& origin);
    // A plan file: a mergekit YAML (one plan), else one spec per line ('#' comments, blank lines
    // skipped). A missing or empty file is an error naming it.
    void add_file(const std::string& path);
    // Base first, then the other plans in the order first added, without duplicates. Fails
    // (naming `what_was_asked`) when nothing but the base would be measured.
    std::vector<SweepPlan> build() const;

  private:
    void add(LayerPlan plan);
    int n_layers_;
    std::vector<LayerPlan> plans_;
};

// The canonical form of a layer list on n_layers (see above).
SweepPlan canonical_plan(const LayerPlan& plan, int n_layers);

// Shard `k` of `n` (1-based): the base and every n-th other plan starting at the k-th.
std::vector<SweepPlan> shard_plans(const std::vector<SweepPlan>& plans, int k, int n);
// Parses "K/N" with 1 <= K <= N.
void parse_shard(const std::string& text, int& k, int& n);

}  // namespace encore
