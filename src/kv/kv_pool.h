// KvPool: the paged KV cache. Memory is a fixed number of blocks under a byte budget; a block
// holds `block_size` consecutive positions of one sequence for every layer instance of the plan
// (layout in backend/backend.h, KvLayerView). Blocks are reference counted so that sequences can
// share full blocks (forks, reused prefixes); a block returns to the free list when its count
// drops to zero. The budget is reserved as virtual memory and only touched pages cost RAM.
//
// Block size 16: small enough that a shared prefix wastes at most 15 positions per sequence and
// prefix matches are found at fine granularity, large enough that a block of one instance
// (16 x head_dim floats per head) is a contiguous run that attention streams efficiently.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"

namespace encore {

struct KvShape {
    int n_instances = 0;  // layer instances of the plan
    int n_kv_heads = 0;
    int head_dim = 0;
    int block_size = 16;
};

class KvPool {
public:
    static constexpr int k_default_block_size = 16;

    // Fails with out_of_memory when the budget cannot hold a single block.
    KvPool(const KvShape& shape, int64_t budget_bytes);
    ~KvPool();
    KvPool(const KvPool&) = delete;
    KvPool& operator=(const KvPool&) = delete;

    const KvShape& shape() const { return shape_; }
    int block_size() const { return shape_.block_size; }
    int64_t bytes_per_block() const { return block_floats_ * int64_t(sizeof(float)); }
    int64_t bytes_per_token() const { return bytes_per_block() / shape_.block_size; }
    int32_t n_blocks() const { return n_blocks_; }
    int32_t n_free() const { return int32_t(free_.size()); }
    int32_t n_used() const { return n_blocks_ - n_free(); }

    // A free block with reference count 1; fails with out_of_memory when none is left.
    int32_t allocate();
    bool can_allocate(int32_t n) const { return n <= n_free(); }
    void retain(int32_t block);
    // Drops one reference; the block is free again at zero. Returns the new count.
    int32_t release(int32_t block);
    int32_t ref_count(int32_t block) const;
    // Copies the first n_positions positions of every instance from `src` to `dst`.
    void copy_block(int32_t src, int32_t dst, int n_positions);

    float* block_data(int32_t block) const { return storage_ + int64_t(block) * block_floats_; }
    KvLayerView layer_view(int instance) const;

private:
    void check_block(int32_t block) const;

    KvShape shape_;
    int64_t block_floats_ = 0;
    int32_t n_blocks_ = 0;
    float* storage_ = nullptr;
    size_t mapped_bytes_ = 0;
    std::vector<int32_t> ref_counts_;
    std::vector<int32_t> free_;  // stack; lowest ids handed out first
};

}  // namespace encore
