// Weight tensors on cache-line boundaries. A vector load that straddles two cache lines costs:
// on the EPYC VM of bench/KERNELS.md, reading memory 16 bytes off a line boundary ran at 45-47
// GB/s against 58-65 GB/s aligned, and decode reads every weight once per token. Mapped files
// put tensors wherever the format's layout falls (safetensors on 8-byte boundaries, GGUF on its
// general.alignment, 32 by default), so a model copies the tensors that are off a boundary once,
// when it is made.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "model/model.h"

namespace encore {

constexpr size_t k_weight_alignment = 64;  // bytes: one cache line, one AVX-512 vector

struct AlignedWeights {
    std::shared_ptr<void> block;  // the copies; must outlive the views (null: none made)
    int64_t copied_bytes = 0;     // bytes of tensors copied onto boundaries
    int64_t unaligned_bytes = 0;  // bytes of tensors left off a boundary (see align_weights)
};

// Copies every tensor of `w` whose data does not start on a k_weight_alignment boundary into one
// block of fresh memory and repoints its views at the copy (views of the same data, such as tied
// embeddings, share one copy). When the copies would take more than `memory_limit` bytes, makes
// none and leaves the views as they are: results are the same, only slower, and a model that
// fits in memory only as a mapped file still loads.
AlignedWeights align_weights(Weights& w, int64_t memory_limit);

// Half of the memory the system reports available now: the default limit for the copies.
int64_t default_alignment_memory_limit();

}  // namespace encore
