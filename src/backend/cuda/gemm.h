// GEMMs of the CUDA backend through cuBLASLt: y[n, m] = x[n, k] · W[m, k]ᵀ with W in its stored
// dtype (bf16, f16: x converted to the same 16-bit type; f32: x as is, plain f32 arithmetic, no
// TF32), f32 accumulation and f32 output.
//
// Algorithm choice: by default cuBLASLt's heuristic for each shape (n included), which may pick a
// split-K or another tiling for another batch size. Deterministic: one algorithm per weight shape
// (m, k), chosen once for a fixed n and forced to split-K 1 with no reduction scheme, used for
// every n; each output element is then reduced in the same order whatever the batch.
//
// Pairs: two products of the same x with weights of one shape (k and v, gate and up) run as one
// strided batch of two; small shapes fill more of the GPU this way (two GEMMs of 128 blocks in
// one launch of 256). By default the batch runs the algorithm cuBLASLt's heuristic picks for the
// batch, whose bits may differ from two run() calls, as another algorithm's may; like the single
// product's, the choice depends on the shapes and n alone. Deterministic: the single product's
// fixed algorithm, so the bits are those of two run() calls at every n. The batch needs the
// output of the weight lower in memory to lie lower too (strides are positive, 16-byte
// multiples); otherwise the two run one after the other. In the environment,
// ENCORE_CUDA_GEMM_PAIRS=0 always runs them one at a time, and ENCORE_CUDA_GEMM_PAIR_ALGO=single
// gives the batch the single product's algorithm (both for comparisons).
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

    // dtype: f32, f16 or bf16 (the type of both w and x); y f32. With `accumulate`, y += x · Wᵀ
    // (beta = 1 in place: each element rounded once from the f32 product plus y's value).
    void run(DType dtype, const void* w /*[m, k]*/, int64_t m, int64_t k, const void* x /*[n, k]*/,
             int64_t n, float* y /*[n, m]*/, bool accumulate = false);
    // y0 = x · w0ᵀ and y1 = x · w1ᵀ in one launch where it can (see Pairs above for the bits).
    void run_pair(DType dtype, const void* w0 /*[m, k]*/, const void* w1 /*[m, k]*/, int64_t m,
                  int64_t k, const void* x /*[n, k]*/, int64_t n, float* y0 /*[n, m]*/,
                  float* y1 /*[n, m]*/);

  private:
    struct Plan {
        cublasLtMatmulDesc_t desc = nullptr;
        cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
        cublasLtMatmulAlgo_t algo{};
    };
    Plan& plan_for(DType dtype, int64_t m, int64_t k, int64_t n);
    // The layouts of a strided batch of two (the single shape's plan, weights stride_w and
    // outputs stride_y elements apart: set at every call), or null where its algorithm does not
    // take the batch.
    Plan* pair_plan_for(DType dtype, int64_t m, int64_t k, int64_t n, int64_t stride_w,
                        int64_t stride_y);
    cublasLtMatmulAlgo_t choose(DType dtype, int64_t m, int64_t k, int64_t n,
                                cublasLtMatmulDesc_t desc);
    // cuBLASLt's first choice for these layouts; false where it offers none.
    bool heuristic(cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                   cublasLtMatrixLayout_t c, cublasLtMatmulAlgo_t& algo);

    cudaStream_t stream_;
    bool deterministic_;
    cublasLtHandle_t handle_ = nullptr;
    void* workspace_ = nullptr;
    size_t workspace_bytes_ = size_t(32) << 20;
    std::map<std::tuple<int, int64_t, int64_t, int64_t>, Plan> plans_;
    std::map<std::tuple<int, int64_t, int64_t>, cublasLtMatmulAlgo_t> fixed_algos_;
    // Keyed by (dtype, m, k, n); desc null: the batch is not taken.
    std::map<std::tuple<int, int64_t, int64_t, int64_t>, Plan> pair_plans_;
    bool pairs_ = true;
    bool pair_single_algo_ = false;
};

}  // namespace encore::cuda

#endif  // ENCORE_HAVE_CUDA
