// LayerPlan: the ordered list of layer instances a forward pass runs. Instance `ii` runs the
// weights of layer `layers[ii]`; weights are shared between instances of one layer, never copied,
// while each instance gets its own KV cache. Plans come from a spec string:
//   "0-3,2-5", "0,1,1,1,2-5"  inclusive ranges and single indices
//   "rys:I,J"                 layers 0..J-1 then I..N-1 (repeats I..J-1 when I < J)
//   "rys:I1,J1;I2,J2;..."     several repeated blocks: layers 0..J1-1, I1..J2-1, ..., Im..N-1
//   a mergekit YAML file      passthrough slices of one model, half-open `layer_range`s
// and the identity plan (all layers once, in order) is the model itself.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace encore {

struct LayerPlan {
    std::vector<int> layers;  // [n_instances] weight-layer index of each instance

    int n_instances() const { return int(layers.size()); }
    bool is_identity(int n_layers) const;
    // Compact spec string ("0-11" for identity, "0-7,4-11" for rys:4,8).
    std::string to_spec() const;

    static LayerPlan identity(int n_layers);
    static LayerPlan rys(int i, int j, int n_layers);
    // Multi-block RYS (I < J for each block, the I's increasing); `spec` is named in errors.
    static LayerPlan rys_blocks(const std::vector<std::pair<int, int>>& blocks, int n_layers,
                                const std::string& spec);
    // Parses any of the forms above; an empty spec is the identity. Fails with a one-line
    // invalid_argument error naming the bad part.
    static LayerPlan parse(const std::string& spec, int n_layers);
    static LayerPlan from_mergekit_yaml(const std::string& path, int n_layers);
};

}  // namespace encore
