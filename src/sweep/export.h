// Export of a layer plan as a standalone model, so that a plan found by a sweep can be used
// anywhere:
//  - hf: a Hugging Face directory whose layers are physically repeated (model.layers.{ii}.* is a
//    copy of the source layer plan[ii], in its stored dtype), config.json with num_hidden_layers
//    (and per-layer lists such as layer_types) updated, tokenizer and generation files copied;
//  - gguf: the same model written by the GGUF writer of `encore convert`, matrices in the stored
//    dtype unless another is asked for;
//  - mergekit: a passthrough YAML of the plan (maximal runs of consecutive layers as half-open
//    layer_range slices) that LayerPlan::from_mergekit_yaml reads back as the same plan.
// Outputs are written atomically: a directory is built beside the target and renamed into place.
#pragma once

#include <memory>
#include <string>

#include "core/dtype.h"
#include "model/layer_plan.h"
#include "model/model.h"

namespace encore {

void export_hf(const Model& model, const LayerPlan& plan, const std::string& out_dir);
void export_gguf(std::shared_ptr<const Model> model, const LayerPlan& plan,
                 const std::string& out_path, const std::string& type /* "" = as stored */);
// `model_name`: what the YAML names as the source model.
std::string mergekit_yaml(const LayerPlan& plan, const std::string& model_name,
                          const std::string& dtype);
void export_mergekit(const Model& model, const LayerPlan& plan, const std::string& out_path);

}  // namespace encore
