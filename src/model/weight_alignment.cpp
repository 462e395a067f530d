// Copying misaligned weight tensors into aligned memory (see weight_alignment.h).
#include "model/weight_alignment.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "core/error.h"

namespace encore {

namespace {

bool misaligned(const TensorView& t) {
    return t.n_dims > 0 && t.data && reinterpret_cast<uintptr_t>(t.data) % k_weight_alignment != 0;
}

size_t padded(size_t bytes) {
    return (bytes + k_weight_alignment - 1) / k_weight_alignment * k_weight_alignment;
}

template <class F>
void for_each_view(Weights& w, F&& f) {
    f(w.tok_embd);
    f(w.out_norm);
    f(w.output);
    for (auto& L : w.layers) for_each_tensor(L, f);
}

}  // namespace

AlignedWeights align_weights(Weights& w, int64_t memory_limit) {
    // Each misaligned source once (views of the same data have the same shape), at its offset in
    // the block.
    struct Copy {
        size_t offset, bytes;
    };
    std::map<const void*, Copy> copy_of;
    size_t total = 0;
    for_each_view(w, [&](TensorView& t) {
        if (!misaligned(t) || copy_of.count(t.data)) return;
        copy_of[t.data] = Copy{total, size_t(t.n_bytes())};
        total += padded(size_t(t.n_bytes()));
    });
    AlignedWeights result;
    if (total == 0) return result;
    if (int64_t(total) > memory_limit) {
        result.unaligned_bytes = int64_t(total);
        return result;
    }

    void* p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fail(ErrorKind::out_of_memory, "cannot allocate {} bytes to align the weights", total);
    result.block = std::shared_ptr<void>(p, [total](void* q) { ::munmap(q, total); });
    // Faulted in by the kernel in one pass rather than one trap per page (best effort).
    ::madvise(p, total, MADV_POPULATE_WRITE);
    auto* base = static_cast<uint8_t*>(p);
    for (const auto& [source, copy] : copy_of) {
        std::memcpy(base + copy.offset, source, copy.bytes);
        result.copied_bytes += int64_t(copy.bytes);
    }
    for_each_view(w, [&](TensorView& t) {
        if (misaligned(t)) t.data = base + copy_of.at(t.data).offset;
    });
    return result;
}

int64_t default_alignment_memory_limit() {
    const long pages = ::sysconf(_SC_AVPHYS_PAGES), page_bytes = ::sysconf(_SC_PAGESIZE);
    return pages > 0 && page_bytes > 0 ? int64_t(pages) * int64_t(page_bytes) / 2 : 0;
}

}  // namespace encore
