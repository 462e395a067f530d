// KvPool: the paged KV cache and its prefix index.
//
// Memory is a fixed number of blocks under a byte budget; a block holds `block_size`
// consecutive positions of one sequence for every layer instance of the plan (layout in
// backend/backend.h, KvLayerView). The budget is reserved as virtual memory, and its first
// k_prefault_bytes are faulted in when the pool is made (about 0.15 s per GiB), as llama.cpp and
// vLLM take their caches up front, so that forward passes do not fault pages in one at a time;
// the rest is faulted in on first use. A budget larger than the machine's memory is refused.
// Blocks are reference counted so that sequences share full blocks (forks, reused prefixes).
//
// Prefix index: a full block can be published under a chained hash of (parent block's hash, the
// block's tokens, a salt naming the model and layer plan). Published blocks outlive the sequences
// that made them: at reference count zero they wait in an LRU list and are evicted (least
// recently used first) only when a fresh block is needed and the free list is empty. A lookup
// checks the stored tokens too, so a hash collision can never hand out wrong KV.
//
// Block size 16: small enough that a shared prefix wastes at most 15 positions per sequence and
// prefix matches are found at fine granularity, large enough that one instance's block of one
// head (16 x head_dim elements) is a contiguous run that attention streams efficiently.
//
// Storage type (KvShape::type): f32 by default; f16 or bf16 halve the bytes per block, so the same
// budget holds twice the positions. The backend's kv_store rounds K and V to it, attention widens
// them back to f32; the pool itself only moves bytes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"

namespace encore {

struct KvShape {
    int n_instances = 0;  // layer instances of the plan
    int n_kv_heads = 0;
    int head_dim = 0;
    int block_size = 16;
    DType type = DType::f32;  // storage type of K and V: f32, f16 or bf16 (see backend.h)

    // Elements (of `type`) and bytes of one block: every instance's K and V of block_size
    // positions.
    int64_t block_elems() const {
        return int64_t(n_instances) * 2 * n_kv_heads * block_size * head_dim;
    }
    int64_t bytes_per_block() const { return block_elems() * kv_type_bytes(type); }
};

struct PrefixStats {
    int64_t hits = 0;       // blocks reused from the index
    int64_t misses = 0;     // lookups that found nothing
    int64_t evictions = 0;  // published blocks dropped to make room
    int64_t published = 0;  // blocks added to the index
};

class KvPool {
  public:
    static constexpr int k_default_block_size = 16;
    static constexpr size_t k_prefault_bytes = size_t(1) << 30;  // faulted in up front
    // Physical memory of this machine in bytes, 0 when the system does not say.
    static int64_t machine_memory_bytes();

    // Fails with out_of_memory when the budget cannot hold a single block or is more than the
    // machine's memory. Storage is host memory of the pool's own (null backend, or one whose
    // memory is the host's), else the backend's memory (a GPU's), taken through it.
    KvPool(const KvShape& shape, int64_t budget_bytes, Backend* backend = nullptr);
    ~KvPool();
    KvPool(const KvPool&) = delete;
    KvPool& operator=(const KvPool&) = delete;

    const KvShape& shape() const { return shape_; }
    int block_size() const { return shape_.block_size; }
    DType type() const { return shape_.type; }
    int64_t bytes_per_block() const { return shape_.bytes_per_block(); }
    int64_t bytes_per_token() const { return bytes_per_block() / shape_.block_size; }
    int32_t n_blocks() const { return n_blocks_; }
    // Blocks that allocate() can hand out: never-used or released ones plus evictable cached ones.
    int32_t n_available() const { return int32_t(free_.size() + lru_.size()); }
    // Blocks referenced by at least one sequence.
    int32_t n_referenced() const { return n_blocks_ - n_available(); }
    // The most blocks referenced at once since the pool was made: what the same work needs
    // again in a pool of the same block size, whatever its layer instances (published blocks
    // nobody references are evicted as needed).
    int32_t peak_referenced() const { return peak_referenced_; }
    // Published blocks, referenced or not.
    int32_t n_cached() const { return int32_t(by_hash_.size()); }

    // A block with reference count 1 (evicting the least recently used unreferenced cached block
    // if no free block is left); fails with out_of_memory when every block is referenced.
    int32_t allocate();
    void retain(int32_t block);
    // Drops one reference. At zero the block becomes free, or evictable if it is published.
    void release(int32_t block);
    int32_t ref_count(int32_t block) const;
    // Published blocks are immutable: a sequence that must write into one copies it first.
    bool is_published(int32_t block) const { return meta_.at(size_t(block)).published; }
    // Copies the first n_positions positions of every instance from `src` to `dst`.
    void copy_block(int32_t src, int32_t dst, int n_positions);

    // Chained block hash (FNV-1a 64 over the parent hash, the salt and the tokens).
    static uint64_t chain_hash(uint64_t parent, uint64_t salt, std::span<const int32_t> tokens);
    // The published block for `hash` holding exactly `tokens`, retained for the caller; -1 (and
    // a miss counted) when there is none.
    int32_t lookup(uint64_t hash, std::span<const int32_t> tokens);
    // The same without counting a hit or a miss: for a caller that holds blocks a prefill is
    // about to look up (and count) again.
    int32_t pin(uint64_t hash, std::span<const int32_t> tokens);
    // Publishes a full, referenced block; ignored if the hash is already published.
    void publish(uint64_t hash, std::span<const int32_t> tokens, int32_t block);
    const PrefixStats& stats() const { return stats_; }

    // Backend memory: dereference only when host_storage(). Elements of type(), laid out as
    // KvLayerView says.
    void* block_data(int32_t block) const { return storage_ + int64_t(block) * bytes_per_block(); }
    bool host_storage() const { return device_ == nullptr; }
    KvLayerView layer_view(int instance) const;

  private:
    struct BlockMeta {
        int32_t ref_count = 0;
        bool published = false;
        uint64_t hash = 0;
        std::vector<int32_t> tokens;       // published blocks: their tokens
        std::list<int32_t>::iterator lru;  // published, unreferenced: place in lru_
    };
    void check_block(int32_t block) const;
    void unpublish(int32_t block);
    void note_referenced() { peak_referenced_ = std::max(peak_referenced_, n_referenced()); }

    KvShape shape_;
    int32_t n_blocks_ = 0;
    uint8_t* storage_ = nullptr;
    size_t mapped_bytes_ = 0;
    Backend* device_ = nullptr;  // owner of storage_ when it is not host memory
    std::vector<BlockMeta> meta_;
    std::vector<int32_t> free_;  // stack; lowest ids handed out first
    std::list<int32_t> lru_;     // published blocks nobody references, oldest first
    std::unordered_map<uint64_t, int32_t> by_hash_;
    PrefixStats stats_;
    int32_t peak_referenced_ = 0;
};

}  // namespace encore
