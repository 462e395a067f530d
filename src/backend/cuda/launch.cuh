// How the CUDA backend's kernels are launched: every one through launch(), with programmatic
// dependent launch on Hopper and later GPUs. A kernel launched so may start while the kernel
// before it on the stream is still running: its blocks become resident as soon as every block of
// the previous kernel has passed wait_for_previous_kernel(), and wait there until that kernel has
// finished and its writes are visible. Before it they may only read what no kernel writes
// (weights). This hides the launch latency and the ramp of a kernel behind the tail of the one
// before, which matters where kernels are a few microseconds long (decode: about 300 launches
// per token). It changes when a kernel starts, never what it computes.
//
// The rule every kernel of the backend follows: wait_for_previous_kernel() before any read of
// activations, the KV pool or scratch, and before any write, in every block (a block that
// returned without it could let the next kernel pass a kernel still running two places back).
// Kernels from elsewhere (cuBLASLt) are launched as usual and keep the usual stream order.
// ENCORE_CUDA_PDL=0 in the environment turns programmatic launches off (for comparisons).
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <utility>

#include "backend/cuda/env_switch.h"

namespace encore::cuda {

// Waits until the previous kernel on the stream has finished and its writes are visible, then
// lets the next kernel's blocks be scheduled (they wait in turn in their own call).
__device__ __forceinline__ void wait_for_previous_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// Whether launches on the current device may overlap (compute capability 9.0 or later, and not
// turned off by ENCORE_CUDA_PDL=0); asked of the device once.
inline bool programmatic_launch_enabled() {
    static const bool allowed = !env_equals("ENCORE_CUDA_PDL", "0");
    if (!allowed) return false;
    static std::atomic<uint64_t> known{0}, capable{0};  // one bit per device
    int device = 0;
    cudaGetDevice(&device);
    const uint64_t bit = uint64_t(1) << (device % 64);
    if (!(known.load() & bit)) {
        int major = 0;
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
        if (major >= 9) capable.fetch_or(bit);
        known.fetch_or(bit);
    }
    return (capable.load() & bit) != 0;
}

// kernel<<<grid, block, smem, stream>>>(args...), as a programmatic dependent launch where
// enabled. Launch errors are left for check_launch(), as with <<<>>>.
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
            Args&&... args) {
    cudaLaunchAttribute overlap[1];
    overlap[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    overlap[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = smem;
    config.stream = stream;
    config.attrs = overlap;
    config.numAttrs = programmatic_launch_enabled() ? 1 : 0;
    cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);  // converted implicitly
}

}  // namespace encore::cuda
