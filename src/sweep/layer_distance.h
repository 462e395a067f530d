// The layer-distance map of Gromov et al. 2024 ("The Unreasonable Ineffectiveness of the Deeper
// Layers"): for every pair of layer boundaries i < j (boundary b = the residual stream entering
// layer b; boundary N = the stream after the last layer, before the output norm), the angular
// distance arccos(cos(x_i, x_j)) / pi between the streams of each token, averaged over tokens.
// Cell (i, j) is the RYS plan repeating layers i..j-1: a small distance says those layers change
// the stream little. The streams come from the forward pass's boundary tap (StemStates captured
// by Engine::eval_stem on the unmodified model), not from a second implementation of the pass.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/stem.h"

namespace encore {

struct LayerDistance {
    int n_layers = 0;
    int64_t n_tokens = 0;                       // tokens averaged over
    std::vector<std::vector<double>> distance;  // [n_layers + 1][n_layers + 1], NaN unless i < j
};

// Averages over every token of every state except each state's first (the BOS, whose stream is
// not that of text); states of one model and the unmodified plan, n_embd wide, read to the host
// through `backend` (one of the states' memory place).
LayerDistance layer_distance(const std::vector<StemState>& states, Backend& backend, int n_layers,
                             int64_t n_embd);

// Runs the unmodified model (engine's plan must be the identity) over each window, capturing
// its boundary streams, and averages their distances.
class Engine;
LayerDistance measure_layer_distance(Engine& engine,
                                     const std::vector<std::vector<int32_t>>& windows);

// Writes dir/distance.json and the map as dir/distance.png and .svg (atomically).
void write_layer_distance(const std::string& dir, const LayerDistance& d);

// {"n_layers", "tokens", "distance": [[null or value]]} as the report reads it.
nlohmann::json layer_distance_json(const LayerDistance& d);

}  // namespace encore
