// GEMMs of the CUDA backend through cuBLASLt: y[n, m] = x[n, k] · W[m, k]ᵀ with W in its stored
// dtype (bf16, f16: x converted to the same 16-bit type; f32: x as is, plain f32 arithmetic, no
// TF32), f32 accumulation and f32 output.
//
// Algorithm choice: by default cuBLASLt's heuristic for each shape (n included), which may pick a
// split-K or another tiling for another batch size. Deterministic: one algorithm per weight shape
// (m, k), chosen once for a fixed n and forced to split-K 1 with no reduction scheme, used for
// every n; each output element is then reduced in the same order whatever the batch.
#pragma once

#ifdef ENCORE_HAVE_CUDA

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <tuple>

#include "core/dtype.h"

namespace encore::cuda {

class Gemm {
  public:
    Gemm(cudaStream_t stream, bool deterministic);
    ~Gemm();
    Gemm(const Gemm&) = delete;
    Gemm& operator=(const Gemm&) = delete;

    // dtype: f32, f16 or bf16 (the type of both w and x); y f32.
    void run(DType dtype, const void* w /*[m, k]*/, int64_t m, int64_t k, const void* x /*[n, k]*/,
             int64_t n, float* y /*[n, m]*/);

  private:
    struct Plan {
        cublasLtMatmulDesc_t desc = nullptr;
        cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
        cublasLtMatmulAlgo_t algo{};
    };
    Plan& plan_for(DType dtype, int64_t m, int64_t k, int64_t n);
    cublasLtMatmulAlgo_t choose(DType dtype, int64_t m, int64_t k, int64_t n,
                                cublasLtMatmulDesc_t desc);

    cudaStream_t stream_;
    bool deterministic_;
    cublasLtHandle_t handle_ = nullptr;
    void* workspace_ = nullptr;
    size_t workspace_bytes_ = size_t(32) << 20;
    std::map<std::tuple<int, int64_t, int64_t, int64_t>, Plan> plans_;
    std::map<std::tuple<int, int64_t, int64_t>, cublasLtMatmulAlgo_t> fixed_algos_;
};

}  // namespace encore::cuda

#endif  // ENCORE_HAVE_CUDA
