// The paged KV block pool and its prefix index (see kv_pool.h).
#include "kv/kv_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace encore {

KvPool::KvPool(const KvShape& shape, int64_t budget_bytes, Backend* backend) : shape_(shape) {
    ENCORE_ASSERT(shape.n_instances > 0 && shape.n_kv_heads > 0 && shape.head_dim > 0 &&
                  shape.block_size > 0);
    if (shape.type != DType::f32 && shape.type != DType::f16 && shape.type != DType::bf16)
        fail(ErrorKind::invalid_argument, "KV storage type {}: expected f32, f16 or bf16",
             dtype_name(shape.type));
    const int64_t n = budget_bytes / bytes_per_block();
    if (n < 1)
        fail(ErrorKind::out_of_memory,
             "KV budget of {} bytes is smaller than one block ({} bytes: {} positions x {} layer "
             "instances, {})",
             budget_bytes, bytes_per_block(), shape.block_size, shape.n_instances,
             dtype_name(shape.type));
    if (n > INT32_MAX)
        fail(ErrorKind::invalid_argument, "KV budget of {} bytes is too large", budget_bytes);
    n_blocks_ = int32_t(n);
    mapped_bytes_ = size_t(n) * size_t(bytes_per_block());
    meta_.resize(size_t(n_blocks_));
    free_.reserve(size_t(n_blocks_));
    for (int32_t b = n_blocks_ - 1; b >= 0; --b) free_.push_back(b);
    if (backend && !backend->host_memory()) {  // device memory: the backend fails when short
        storage_ = static_cast<uint8_t*>(backend->allocate(mapped_bytes_));
        device_ = backend;
        return;
    }
    const int64_t memory = machine_memory_bytes();
    if (memory > 0 && int64_t(mapped_bytes_) > memory)
        fail(ErrorKind::out_of_memory,
             "KV budget of {} bytes is more than this machine's memory ({} bytes); lower "
             "--kv-budget",
             budget_bytes, memory);
    void* p = ::mmap(nullptr, mapped_bytes_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        fail(ErrorKind::out_of_memory, "cannot reserve {} bytes for the KV cache", mapped_bytes_);
    // The first pages are faulted in here, in one pass of the kernel, instead of one trap per
    // page (about 12 us each on a VM) the first time a forward pass writes a block. Blocks are
    // handed out lowest first, so these are the ones a run uses first. Best effort: a kernel
    // without MADV_POPULATE_WRITE (before Linux 5.14) faults them lazily.
    ::madvise(p, std::min(mapped_bytes_, k_prefault_bytes), MADV_POPULATE_WRITE);
    storage_ = static_cast<uint8_t*>(p);
}

int64_t KvPool::machine_memory_bytes() {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page_bytes = ::sysconf(_SC_PAGESIZE);
    return pages > 0 && page_bytes > 0 ? int64_t(pages) * int64_t(page_bytes) : 0;
}

KvPool::~KvPool() {
    if (device_)
        device_->deallocate(storage_);
    else if (storage_)
        ::munmap(storage_, mapped_bytes_);
}

void KvPool::check_block(int32_t block) const {
    if (block < 0 || block >= n_blocks_)
        fail(ErrorKind::internal, "KV block {} is not in the pool (0..{})", block, n_blocks_ - 1);
}

int32_t KvPool::allocate() {
    int32_t b;
    if (!free_.empty()) {
        b = free_.back();
        free_.pop_back();
    } else if (!lru_.empty()) {
        b = lru_.front();
        unpublish(b);  // also removes it from lru_
        ++stats_.evictions;
    } else {
        fail(ErrorKind::out_of_memory,
             "KV cache is full: all {} blocks ({} positions each, {} bytes) are in use; raise "
             "--kv-budget",
             n_blocks_, shape_.block_size, bytes_per_block());
    }
    meta_[size_t(b)].ref_count = 1;
    note_referenced();
    return b;
}

void KvPool::retain(int32_t block) {
    check_block(block);
    BlockMeta& m = meta_[size_t(block)];
    if (m.ref_count == 0) {
        ENCORE_ASSERT(m.published);  // a free block cannot be retained, only allocated
        lru_.erase(m.lru);
    }
    ++m.ref_count;
    note_referenced();
}

void KvPool::release(int32_t block) {
    check_block(block);
    BlockMeta& m = meta_[size_t(block)];
    ENCORE_ASSERT(m.ref_count > 0);
    if (--m.ref_count > 0) return;
    if (m.published) {
        m.lru = lru_.insert(lru_.end(), block);
    } else {
        free_.push_back(block);
    }
}

int32_t KvPool::ref_count(int32_t block) const {
    check_block(block);
    return meta_[size_t(block)].ref_count;
}

void KvPool::unpublish(int32_t block) {
    BlockMeta& m = meta_[size_t(block)];
    if (!m.published) return;
    if (m.ref_count == 0) lru_.erase(m.lru);
    by_hash_.erase(m.hash);
    m.published = false;
    m.tokens.clear();
}

uint64_t KvPool::chain_hash(uint64_t parent, uint64_t salt, std::span<const int32_t> tokens) {
    uint64_t h = 1469598103934665603ull;
    auto mix = [&](uint64_t v) {
        for (int i = 0; i < 8; ++i) h = (h ^ ((v >> (8 * i)) & 0xff)) * 1099511628211ull;
    };
    mix(parent);
    mix(salt);
    for (int32_t t : tokens) mix(uint64_t(uint32_t(t)));
    return h;
}

int32_t KvPool::pin(uint64_t hash, std::span<const int32_t> tokens) {
    const auto it = by_hash_.find(hash);
    if (it == by_hash_.end()) return -1;
    const BlockMeta& m = meta_[size_t(it->second)];
    if (!std::equal(m.tokens.begin(), m.tokens.end(), tokens.begin(), tokens.end())) return -1;
    retain(it->second);
    return it->second;
}

int32_t KvPool::lookup(uint64_t hash, std::span<const int32_t> tokens) {
    const int32_t block = pin(hash, tokens);
    ++(block >= 0 ? stats_.hits : stats_.misses);
    return block;
}

void KvPool::publish(uint64_t hash, std::span<const int32_t> tokens, int32_t block) {
    check_block(block);
    BlockMeta& m = meta_[size_t(block)];
    ENCORE_ASSERT(m.ref_count > 0);
    if (m.published || by_hash_.count(hash)) return;
    m.published = true;
    m.hash = hash;
    m.tokens.assign(tokens.begin(), tokens.end());
    by_hash_.emplace(hash, block);
    ++stats_.published;
}

void KvPool::copy_block(int32_t src, int32_t dst, int n_positions) {
    check_block(src);
    check_block(dst);
    // Each (instance, k|v, head) run is [block_size, head_dim]; copy the first n_positions rows
    // (bytes: the copy is the same whatever the storage type).
    const int64_t element = kv_type_bytes(shape_.type);
    const int64_t run = int64_t(shape_.block_size) * shape_.head_dim * element;
    const int64_t n_runs = int64_t(shape_.n_instances) * 2 * shape_.n_kv_heads;
    const size_t bytes = size_t(n_positions) * size_t(shape_.head_dim) * size_t(element);
    uint8_t* to = static_cast<uint8_t*>(block_data(dst));
    const uint8_t* from = static_cast<const uint8_t*>(block_data(src));
    for (int64_t r = 0; r < n_runs; ++r) {
        if (device_)
            device_->copy(to + r * run, from + r * run, bytes);
        else
            std::memcpy(to + r * run, from + r * run, bytes);
    }
}

KvLayerView KvPool::layer_view(int instance) const {
    ENCORE_ASSERT(instance >= 0 && instance < shape_.n_instances);
    KvLayerView view;
    view.pool = storage_;
    view.type = shape_.type;
    view.block_stride = shape_.block_elems();
    view.instance_offset =
        int64_t(instance) * 2 * shape_.n_kv_heads * shape_.block_size * shape_.head_dim;
    view.n_kv_heads = shape_.n_kv_heads;
    view.head_dim = shape_.head_dim;
    view.block_size = shape_.block_size;
    return view;
}

}  // namespace encore
