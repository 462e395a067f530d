// cuBLASLt GEMMs of the CUDA backend (see gemm.h).
#ifdef ENCORE_HAVE_CUDA

#include "backend/cuda/gemm.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/env_switch.h"

#include <utility>

namespace encore::cuda {

namespace {

// Batch size for which the deterministic mode picks each weight shape's one algorithm: large
// enough for a prefill-shaped tiling, which decode then runs too (the speed cost of the mode).
constexpr int64_t k_fixed_algorithm_n = 256;

cudaDataType_t cuda_type(DType dtype) {
    switch (dtype) {
        case DType::bf16:
            return CUDA_R_16BF;
        case DType::f16:
            return CUDA_R_16F;
        default:
            return CUDA_R_32F;
    }
}

// The column-major layouts of y = x · Wᵀ: W [m, k] row-major is k x m (ld k), used transposed;
// x is k x n (ld k); y is m x n (ld m), f32.
void create_layouts(DType dtype, int64_t m, int64_t k, int64_t n, cublasLtMatrixLayout_t& a,
                    cublasLtMatrixLayout_t& b, cublasLtMatrixLayout_t& c) {
    const cudaDataType_t t = cuda_type(dtype);
    ENCORE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&a, t, uint64_t(k), uint64_t(m), k));
    ENCORE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&b, t, uint64_t(k), uint64_t(n), k));
    ENCORE_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&c, CUDA_R_32F, uint64_t(m), uint64_t(n), m));
}
void destroy_layouts(cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c) {
    cublasLtMatrixLayoutDestroy(a);
    cublasLtMatrixLayoutDestroy(b);
    cublasLtMatrixLayoutDestroy(c);
}

}  // namespace

Gemm::Gemm(cudaStream_t stream, bool deterministic)
    : stream_(stream), deterministic_(deterministic) {
    ENCORE_CUBLAS_CHECK(cublasLtCreate(&handle_));
    ENCORE_CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
    pairs_ = !env_equals("ENCORE_CUDA_GEMM_PAIRS", "0");
    pair_single_algo_ = env_equals("ENCORE_CUDA_GEMM_PAIR_ALGO", "single");
}

Gemm::~Gemm() {
    for (auto& [key, p] : pair_plans_)
        if (p.desc) destroy_layouts(p.a, p.b, p.c);  // the desc is the single plan's
    for (auto& [key, p] : plans_) {
        destroy_layouts(p.a, p.b, p.c);
        cublasLtMatmulDescDestroy(p.desc);
    }
    cudaFree(workspace_);
    cublasLtDestroy(handle_);
}

cublasLtMatmulAlgo_t Gemm::choose(DType dtype, int64_t m, int64_t k, int64_t n,
                                  cublasLtMatmulDesc_t desc) {
    cublasLtMatrixLayout_t a, b, c;
    create_layouts(dtype, m, k, n, a, b, c);
    cublasLtMatmulAlgo_t algo{};
    const bool found = heuristic(desc, a, b, c, algo);
    destroy_layouts(a, b, c);
    if (!found)
        fail(ErrorKind::unsupported, "cuBLASLt has no algorithm for a {} GEMM of {}x{}x{}",
             dtype_name(dtype), m, n, k);
    if (deterministic_) {
        const int one = 1;
        const uint32_t none = CUBLASLT_REDUCTION_SCHEME_NONE;
        cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &one,
                                             sizeof(one));
        cublasLtMatmulAlgoConfigSetAttribute(&algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &none,
                                             sizeof(none));
    }
    return algo;
}

bool Gemm::heuristic(cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                     cublasLtMatrixLayout_t c, cublasLtMatmulAlgo_t& algo) {
    cublasLtMatmulPreference_t pref;
    ENCORE_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    ENCORE_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                             &workspace_bytes_, sizeof(workspace_bytes_)));
    cublasLtMatmulHeuristicResult_t results[8];
    int found = 0;
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(handle_, desc, a, b, c, c, pref, 8, results, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || found == 0) return false;
    algo = results[0].algo;
    return true;
}

Gemm::Plan& Gemm::plan_for(DType dtype, int64_t m, int64_t k, int64_t n) {
    const auto key = std::make_tuple(int(dtype), m, k, n);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    Plan p;
    ENCORE_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t op_t = CUBLAS_OP_T, op_n = CUBLAS_OP_N;
    ENCORE_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_t, sizeof(op_t)));
    ENCORE_CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_n, sizeof(op_n)));
    create_layouts(dtype, m, k, n, p.a, p.b, p.c);
    if (deterministic_) {
        const auto akey = std::make_tuple(int(dtype), m, k);
        auto a = fixed_algos_.find(akey);
        if (a == fixed_algos_.end())
            a = fixed_algos_.emplace(akey, choose(dtype, m, k, k_fixed_algorithm_n, p.desc)).first;
        p.algo = a->second;
        cublasLtMatmulHeuristicResult_t check{};
        if (cublasLtMatmulAlgoCheck(handle_, p.desc, p.a, p.b, p.c, p.c, &p.algo, &check) !=
                CUBLAS_STATUS_SUCCESS ||
            check.workspaceSize > workspace_bytes_)
            fail(ErrorKind::unsupported,
                 "--deterministic: the fixed cuBLASLt algorithm of the {} GEMM {}x{} does not run "
                 "with {} rows",
                 dtype_name(dtype), m, k, n);
    } else {
        p.algo = choose(dtype, m, k, n, p.desc);
    }
    return plans_.emplace(key, p).first->second;
}

void Gemm::run(DType dtype, const void* w, int64_t m, int64_t k, const void* x, int64_t n, float* y,
               bool accumulate) {
    if (n == 0 || m == 0) return;
    Plan& p = plan_for(dtype, m, k, n);
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    ENCORE_CUBLAS_CHECK(cublasLtMatmul(handle_, p.desc, &alpha, w, p.a, x, p.b, &beta, y, p.c, y,
                                       p.c, &p.algo, workspace_, workspace_bytes_, stream_));
}

Gemm::Plan* Gemm::pair_plan_for(DType dtype, int64_t m, int64_t k, int64_t n, int64_t stride_w,
                                int64_t stride_y) {
    const auto key = std::make_tuple(int(dtype), m, k, n);
    auto it = pair_plans_.find(key);
    if (it == pair_plans_.end()) {
        const Plan& single = plan_for(dtype, m, k, n);
        Plan p;
        create_layouts(dtype, m, k, n, p.a, p.b, p.c);
        const int32_t two = 2;
        const int64_t zero = 0;
        for (const auto& [layout, stride] :
             {std::pair{p.a, stride_w}, std::pair{p.b, zero}, std::pair{p.c, stride_y}}) {
            ENCORE_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
                layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &two, sizeof(two)));
            ENCORE_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
                layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
        }
        p.desc = single.desc;
        p.algo = single.algo;
        // By default the batch runs the algorithm cuBLASLt's heuristic gives the batch itself
        // (another kernel than the single product's may fill the GPU better: bits of their own).
        // Deterministic, or ENCORE_CUDA_GEMM_PAIR_ALGO=single: the single product's algorithm,
        // the bits of two run() calls.
        if (!deterministic_ && !pair_single_algo_) {
            cublasLtMatmulAlgo_t own{};
            if (heuristic(p.desc, p.a, p.b, p.c, own)) p.algo = own;
        }
        cublasLtMatmulHeuristicResult_t check{};
        if (cublasLtMatmulAlgoCheck(handle_, p.desc, p.a, p.b, p.c, p.c, &p.algo, &check) !=
                CUBLAS_STATUS_SUCCESS ||
            check.workspaceSize > workspace_bytes_) {
            destroy_layouts(p.a, p.b, p.c);
            p = Plan{};
        }
        it = pair_plans_.emplace(key, p).first;
    }
    Plan* p = it->second.desc ? &it->second : nullptr;
    if (!p) return nullptr;
    // The strides of this call (the weights of each layer lie at their own distance): 16-byte
    // multiples, so every matrix of the batch is as aligned as the first one the check saw.
    ENCORE_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
        p->a, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride_w, sizeof(stride_w)));
    ENCORE_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
        p->c, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride_y, sizeof(stride_y)));
    return p;
}

void Gemm::run_pair(DType dtype, const void* w0, const void* w1, int64_t m, int64_t k,
                    const void* x, int64_t n, float* y0, float* y1) {
    if (n == 0 || m == 0) return;
    // The batch's second matrices at a positive stride from its first: order by weight address.
    if (w1 < w0) {
        std::swap(w0, w1);
        std::swap(y0, y1);
    }
    const int64_t element = dtype == DType::f32 ? 4 : 2;
    const int64_t bytes_w = static_cast<const char*>(w1) - static_cast<const char*>(w0);
    const int64_t bytes_y = reinterpret_cast<const char*>(y1) - reinterpret_cast<const char*>(y0);
    // 16-byte steps keep every matrix as aligned as the first; outputs must not overlap.
    Plan* p = nullptr;
    if (pairs_ && bytes_w % 16 == 0 && bytes_y % 16 == 0 && bytes_y >= m * n * 4)
        p = pair_plan_for(dtype, m, k, n, bytes_w / element, bytes_y / 4);
    if (!p) {
        run(dtype, w0, m, k, x, n, y0);
        run(dtype, w1, m, k, x, n, y1);
        return;
    }
    const float alpha = 1.0f, beta = 0.0f;
    ENCORE_CUBLAS_CHECK(cublasLtMatmul(handle_, p->desc, &alpha, w0, p->a, x, p->b, &beta, y0, p->c,
                                       y0, p->c, &p->algo, workspace_, workspace_bytes_, stream_));
}

}  // namespace encore::cuda

#endif  // ENCORE_HAVE_CUDA
