// The drawn results of a sweep run directory (format in the README's sweep section): per metric a
// heatmap (heatmaps/<metric>.png and .svg), the layer-distance map when distance.json exists
// (heatmaps/distance.png and .svg), and one self-contained report.html (images inlined, inline
// CSS and JS, nothing fetched) with the maps, the distance map's rank correlation to each metric,
// a table of plans sortable by each column, averages per block length, the Pareto front of each
// metric against the added layers, and samples of the best and worst plans.
#pragma once

#include <string>
#include <vector>

namespace encore {

// Reads run.json, results.jsonl (a torn last line is ignored), samples.jsonl and distance.json
// (both optional) of run_dir and (re)writes the files above atomically. Fails with a one-line
// error naming the file when run.json or results.jsonl is missing or malformed.
void draw_sweep_report(const std::string& run_dir);

// Spearman's rank correlation of paired values (ties get their mean rank); NaN when there are
// fewer than 3 pairs or either side is constant. The report uses it to say how well the layer
// distance predicts a measured map.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace encore
