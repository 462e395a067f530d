// Heatmaps of a layer-repetition sweep, drawn with cairo as PNG and SVG from one drawing routine.
// The axes are those of an RYS plan (layers 0..j-1 then i..N-1): x = j (end of the repeated
// block, exclusive), y = i (start); only cells with i < j exist. Two kinds of map:
//  - a metric map: a diverging colour map centred on the baseline, blue where the plan is better
//    than the unmodified model and red where it is worse (each side scaled to its own extreme, the
//    colour bar shows both), cells whose bootstrap interval of the delta contains zero hatched and
//    paled, the best cell outlined, the value written in each cell when it fits;
//  - a distance map: a sequential colour map of a value in [0, 1] (no baseline, no direction).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace encore {

struct HeatmapCell {
    int i = 0, j = 0;  // the block [i, j) repeated; 0 <= i < j <= n_layers
    double value = 0;
    double delta = 0;               // value - baseline (metric maps)
    bool ci_contains_zero = false;  // the delta's interval contains zero (metric maps)
};

struct Heatmap {
    enum class Kind { metric, distance };
    Kind kind = Kind::metric;
    std::string title;        // e.g. "perplexity"
    std::string value_label;  // colour-bar caption
    int n_layers = 0;
    bool lower_is_better = true;  // metric maps
    double baseline = 0;          // metric maps
    std::vector<HeatmapCell> cells;
};

// The cell a metric map marks as best (lowest or highest value); nullopt for no cells.
std::optional<HeatmapCell> best_cell(const Heatmap& map);

// Centre of cell (i, j) in image units (the SVG's; the PNG has twice as many pixels per unit).
struct Point {
    double x, y;
};
Point heatmap_cell_centre(const Heatmap& map, int i, int j);
constexpr double kHeatmapPngScale = 2;

// Encoded images (the file contents).
std::string render_heatmap_png(const Heatmap& map);
std::string render_heatmap_svg(const Heatmap& map);

}  // namespace encore
