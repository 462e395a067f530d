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
//
// Timed choice (default mode, passes of at least k_timed_min_rows rows): cuBLASLt's heuristic ranks
// its candidates well for small passes but not for large ones. On an H100 (2026-12-08,
// bench/gemm_candidates.cpp, 9600 rows) its first choice ran q/o at 75% of the 8192³ GEMM's rate
// where its fourth ran at 89%, and down at 82% against 93%; a gate/up batch of two took 3375 µs
// where the two GEMMs alone took 2922. So the first time a shape meets such a pass, each candidate
// the heuristic offers is timed on the pass's own operands (median of three runs after a warm-up),
// and the fastest (of those within k_timed_tie of it, the heuristic's best-ranked) is kept if it is
// at least k_timed_margin faster than the heuristic's first; a pair runs as two GEMMs if those are
// that much faster than the batch. A choice holds for the shape's passes of the same power-of-two
// bucket of rows (4096-8191, 8192-16383, ...): scoring items of many lengths make passes of many
// sizes, and timing each would cost about as much as the pass. Another size of a bucket runs the
// timed algorithm where cuBLASLt accepts it for that size, else its own first choice. The choice is
// made once per process, so a run's passes of one size all see the same algorithm; another run may
// time another one where timings are close (another algorithm's bits, as with another batch size).
// ENCORE_CUDA_GEMM_TIMED=0 keeps the heuristic's first choice everywhere (for comparisons, or the
// same algorithms from run to run), =log prints each choice on stderr; --deterministic never times.
#pragma once

#ifdef ENCORE_HAVE_CUDA

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <tuple>
#include <vector>

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

    // Passes of fewer rows keep the heuristic's first choice (at 512 and 2048 rows it was the
    // fastest candidate or within 1% of it, in the measurement above).
    static constexpr int64_t k_timed_min_rows = 4096;
    // How much faster than the heuristic's first choice a timed candidate must be to replace it.
    static constexpr double k_timed_margin = 0.05;
    // Candidates timed within this of the fastest count as tied (the heuristic's rank decides).
    static constexpr double k_timed_tie = 0.02;

  private:
    struct Plan {
        cublasLtMatmulDesc_t desc = nullptr;
        cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
        cublasLtMatmulAlgo_t algo{};
        bool split = false;  // a pair's plan: run the two GEMMs one after the other instead
    };
    // What one call multiplies: the operands candidates are timed on.
    struct Operands {
        const void* w;
        const void* x;
        float* y;
        bool accumulate;
    };
    Plan& plan_for(DType dtype, int64_t m, int64_t k, int64_t n, const Operands& call);
    // The layouts of a strided batch of two (the single shape's plan, weights stride_w and
    // outputs stride_y elements apart: set at every call), or null where its algorithm does not
    // take the batch or two GEMMs are timed faster than it.
    Plan* pair_plan_for(DType dtype, int64_t m, int64_t k, int64_t n, int64_t stride_w,
                        int64_t stride_y, const Operands& first);
    cublasLtMatmulAlgo_t choose(DType dtype, int64_t m, int64_t k, int64_t n,
                                cublasLtMatmulDesc_t desc);
    // cuBLASLt's candidates for these layouts, best first (at most `count`); empty where it
    // offers none.
    std::vector<cublasLtMatmulAlgo_t> candidates(cublasLtMatmulDesc_t desc,
                                                 cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                                 cublasLtMatrixLayout_t c, int count);
    // cuBLASLt's first choice for these layouts; false where it offers none.
    bool heuristic(cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                   cublasLtMatrixLayout_t c, cublasLtMatmulAlgo_t& algo);
    // Whether `algo` runs these layouts within the workspace.
    bool accepts(cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                 cublasLtMatrixLayout_t c, const cublasLtMatmulAlgo_t& algo);
    // Whether this pass's GEMMs are timed (see Timed choice above).
    bool timed(int64_t n) const { return timed_ && !deterministic_ && n >= k_timed_min_rows; }
    // The key of a shape's timed choice: its pass sizes grouped by power of two.
    using TimedKey = std::tuple<int, int64_t, int64_t, int>;
    static TimedKey timed_key(DType dtype, int64_t m, int64_t k, int64_t n);
    // p.algo for a timed pass: the bucket's timed choice, timing the candidates on `call` first
    // where the bucket has none.
    void choose_timed(Plan& p, DType dtype, int64_t m, int64_t k, int64_t n, const Operands& call);
    // p's candidates timed on `call` (beta = 0 into call.y, or into scratch where the call
    // accumulates): true, with p.algo the fastest, where it beats the first by the margin.
    bool time_candidates(Plan& p, int64_t m, int64_t k, int64_t n, const Operands& call);
    // Whether the batch of two in `pair` is slower than two GEMMs of `single`, timed on `first`.
    bool pair_slower_than_two(const Plan& pair, const Plan& single, int64_t m, int64_t k, int64_t n,
                              const Operands& first);
    // Median time of three runs of `launch` on the stream after a warm-up, in ms.
    float median_ms(const std::function<void()>& launch);

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
    bool timed_ = true;
    // Buckets timed: the candidate that beat the heuristic's first there, if one did.
    std::map<TimedKey, std::optional<cublasLtMatmulAlgo_t>> timed_algos_;
    std::map<TimedKey, bool> timed_pair_splits_;  // buckets timed: run pairs as two GEMMs
    bool timed_log_ = false;  // ENCORE_CUDA_GEMM_TIMED=log: each choice on stderr
};

}  // namespace encore::cuda

#endif  // ENCORE_HAVE_CUDA
