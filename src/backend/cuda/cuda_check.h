// Error checks of CUDA runtime and cuBLASLt calls: a failing call becomes an encore Error naming
// the call and CUDA's message (out_of_memory for allocation failures, internal otherwise).
#pragma once

#ifdef ENCORE_HAVE_CUDA

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "core/error.h"

namespace encore::cuda {

inline void check_cuda(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return;
    cudaGetLastError();  // clear a sticky-free error so later calls report their own
    fail(e == cudaErrorMemoryAllocation ? ErrorKind::out_of_memory : ErrorKind::internal,
         "CUDA: {}: {}", what, cudaGetErrorString(e));
}

inline void check_cublas(cublasStatus_t s, const char* what) {
    if (s == CUBLAS_STATUS_SUCCESS) return;
    fail(s == CUBLAS_STATUS_ALLOC_FAILED ? ErrorKind::out_of_memory : ErrorKind::internal,
         "cuBLASLt: {}: status {}", what, int(s));
}

// After a kernel launch: reports a bad launch configuration at once (the kernel's own faults
// surface at the next synchronizing call).
inline void check_launch(const char* what) {
    check_cuda(cudaGetLastError(), what);
}

}  // namespace encore::cuda

#define ENCORE_CUDA_CHECK(call) ::encore::cuda::check_cuda((call), #call)
#define ENCORE_CUBLAS_CHECK(call) ::encore::cuda::check_cublas((call), #call)

#endif  // ENCORE_HAVE_CUDA
