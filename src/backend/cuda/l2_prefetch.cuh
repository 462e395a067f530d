// Weights pulled into the L2 cache ahead of the matmul that reads them. At decode a layer's GEMVs
// stream their weights from memory, and between two of them run kernels that read almost nothing
// (RoPE, the K/V stores, attention over a short context): memory sits idle there. A kernel that
// runs there may carry an L2Prefetch of the next GEMV's weight; its blocks issue prefetch
// instructions for their share of the bytes before they wait for the previous kernel, and the
// GEMV then reads them from L2. Prefetches never change a result; they only move when bytes
// arrive.
#pragma once

#include <cstdint>

namespace encore::cuda {

struct L2Prefetch {
    const void* ptr = nullptr;  // device memory, 16-byte aligned
    int64_t bytes = 0;          // a multiple of 16; 0: nothing
    bool keep = false;          // with L2's evict_last priority (else evict_normal)
};

#ifdef __CUDACC__
// This block's share of the lines of `p`: line i goes to block i % gridDim.x, so that every
// multiprocessor the kernel runs on issues some (one thread issues 128 bytes per instruction).
__device__ __forceinline__ void issue_l2_prefetch(const L2Prefetch& p) {
    if (p.bytes <= 0) return;
    const char* base = static_cast<const char*>(p.ptr);
    const int64_t lines = (p.bytes + 127) / 128;
    for (int64_t i = int64_t(threadIdx.x) * gridDim.x + blockIdx.x; i < lines;
         i += int64_t(gridDim.x) * blockDim.x) {
        const char* at = base + i * 128;
        if (p.keep)
            asm volatile("prefetch.global.L2::evict_last [%0];" ::"l"(at));
        else
            asm volatile("prefetch.global.L2 [%0];" ::"l"(at));
    }
}
#endif

}  // namespace encore::cuda
