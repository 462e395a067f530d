// Weight tensors on cache-line boundaries. A vector load that straddles two cache lines costs:
// on the EPYC VM of bench/KERNELS.md, reading memory 16 bytes off a line boundary ran at 45-47
// GB/s against 58-65 GB/s aligned, and decode reads every weight once per token. Mapped files
// put tensors wherever the format's layout falls (safetensors on 8-byte boundaries, GGUF on its
// general.alignment, 32 by default), so a model copies the tensors that are off a boundary once,
// when it is made.
#pragma once

#include <cstddef>
#include <memory>

#include "model/model.h"

namespace encore {

constexpr size_t k_weight_alignment = 64;  // bytes: one cache line, one AVX-512 vector

// Copies every tensor of `w` whose data does not start on a k_weight_alignment boundary into one
// block of fresh memory, repoints its views at the copy (views of the same data, such as tied
// embeddings, share one copy) and returns the block, which must outlive the views; null when
// every tensor was aligned already.
std::shared_ptr<void> align_weights(Weights& w);

}  // namespace encore
