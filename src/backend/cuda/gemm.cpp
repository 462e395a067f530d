// cuBLASLt GEMMs of the CUDA backend (see gemm.h).
#ifdef ENCORE_HAVE_CUDA

#include "backend/cuda/gemm.h"

#include "backend/cuda/cuda_check.h"
#include "backend/cuda/env_switch.h"

#include <algorithm>
#include <cstdio>
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
    timed_ = !env_equals("ENCORE_CUDA_GEMM_TIMED", "0");
    timed_log_ = env_equals("ENCORE_CUDA_GEMM_TIMED", "log");
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

std::vector<cublasLtMatmulAlgo_t> Gemm::candidates(cublasLtMatmulDesc_t desc,
                                                   cublasLtMatrixLayout_t a,
                                                   cublasLtMatrixLayout_t b,
                                                   cublasLtMatrixLayout_t c, int count) {
    cublasLtMatmulPreference_t pref;
    ENCORE_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    ENCORE_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                             &workspace_bytes_, sizeof(workspace_bytes_)));
    cublasLtMatmulHeuristicResult_t results[8];
    int found = 0;
    const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(handle_, desc, a, b, c, c, pref,
                                                             std::min(count, 8), results, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    std::vector<cublasLtMatmulAlgo_t> algos;
    if (st != CUBLAS_STATUS_SUCCESS) return algos;
    for (int i = 0; i < found; ++i)
        if (results[i].state == CUBLAS_STATUS_SUCCESS &&
            results[i].workspaceSize <= workspace_bytes_)
            algos.push_back(results[i].algo);
    return algos;
}

bool Gemm::heuristic(cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                     cublasLtMatrixLayout_t c, cublasLtMatmulAlgo_t& algo) {
    const auto algos = candidates(desc, a, b, c, 1);
    if (algos.empty()) return false;
    algo = algos[0];
    return true;
}

bool Gemm::accepts(cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                   cublasLtMatrixLayout_t c, const cublasLtMatmulAlgo_t& algo) {
    cublasLtMatmulHeuristicResult_t check{};
    return cublasLtMatmulAlgoCheck(handle_, desc, a, b, c, c, &algo, &check) ==
               CUBLAS_STATUS_SUCCESS &&
           check.workspaceSize <= workspace_bytes_;
}

float Gemm::median_ms(const std::function<void()>& launch) {
    launch();  // warm-up: a kernel's first launch loads its code
    cudaEvent_t marks[4];
    for (cudaEvent_t& e : marks) ENCORE_CUDA_CHECK(cudaEventCreate(&e));
    ENCORE_CUDA_CHECK(cudaEventRecord(marks[0], stream_));
    for (int r = 1; r < 4; ++r) {
        launch();
        ENCORE_CUDA_CHECK(cudaEventRecord(marks[r], stream_));
    }
    ENCORE_CUDA_CHECK(cudaEventSynchronize(marks[3]));
    float ms[3];
    for (int r = 0; r < 3; ++r)
        ENCORE_CUDA_CHECK(cudaEventElapsedTime(&ms[r], marks[r], marks[r + 1]));
    for (cudaEvent_t e : marks) cudaEventDestroy(e);
    std::sort(ms, ms + 3);
    return ms[1];
}

Gemm::TimedKey Gemm::timed_key(DType dtype, int64_t m, int64_t k, int64_t n) {
    int bucket = 0;
    while ((n >> (bucket + 1)) > 0) ++bucket;  // floor(log2(n))
    return std::make_tuple(int(dtype), m, k, bucket);
}

void Gemm::choose_timed(Plan& p, DType dtype, int64_t m, int64_t k, int64_t n,
                        const Operands& call) {
    const TimedKey key = timed_key(dtype, m, k, n);
    auto it = timed_algos_.find(key);
    if (it == timed_algos_.end()) {
        std::optional<cublasLtMatmulAlgo_t> winner;
        if (time_candidates(p, m, k, n, call)) winner = p.algo;
        timed_algos_.emplace(key, winner);
        return;
    }
    if (it->second && accepts(p.desc, p.a, p.b, p.c, *it->second)) p.algo = *it->second;
}

bool Gemm::time_candidates(Plan& p, int64_t m, int64_t k, int64_t n, const Operands& call) {
    auto algos = candidates(p.desc, p.a, p.b, p.c, 8);
    if (algos.size() < 2) return false;
    // The heuristic's first choice is p.algo; an accumulating call's output is the residual,
    // which the timing must not touch: its candidates write into scratch (none where the
    // device has no room for it: the first choice stays).
    float* out = call.y;
    void* scratch = nullptr;
    if (call.accumulate) {
        if (cudaMalloc(&scratch, size_t(m * n) * sizeof(float)) != cudaSuccess) {
            cudaGetLastError();  // clears the failed allocation's error
            return false;
        }
        out = static_cast<float*>(scratch);
    }
    const float alpha = 1.0f, beta = 0.0f;
    auto time_algo = [&](const cublasLtMatmulAlgo_t& algo) {
        return median_ms([&] {
            ENCORE_CUBLAS_CHECK(cublasLtMatmul(handle_, p.desc, &alpha, call.w, p.a, call.x, p.b,
                                               &beta, out, p.c, out, p.c, &algo, workspace_,
                                               workspace_bytes_, stream_));
        });
    };
    std::vector<float> ms;
    for (const cublasLtMatmulAlgo_t& algo : algos) ms.push_back(time_algo(algo));
    const float first_ms = ms[0], fastest_ms = *std::min_element(ms.begin(), ms.end());
    // Of the candidates within k_timed_tie of the fastest, the heuristic's highest-ranked: two
    // runs then pick the same one more often where timings are close.
    size_t best = 0;
    while (ms[best] > fastest_ms * (1.0 + k_timed_tie)) ++best;
    const float best_ms = ms[best];
    if (scratch) ENCORE_CUDA_CHECK(cudaFree(scratch));
    const bool replace = best_ms < first_ms * (1.0 - k_timed_margin);
    p.algo = algos[replace ? best : 0];
    if (timed_log_)
        std::fprintf(stderr,
                     "gemm %lld x %lld, %lld rows: candidate %zu of %zu (%.1f us; first %.1f us)\n",
                     (long long)m, (long long)k, (long long)n, replace ? best : 0, algos.size(),
                     (replace ? best_ms : first_ms) * 1e3, first_ms * 1e3);
    return replace;
}

bool Gemm::pair_slower_than_two(const Plan& pair, const Plan& single, int64_t m, int64_t k,
                                int64_t n, const Operands& first) {
    // Both on this call's operands (the pair's layouts carry its strides); a pair never
    // accumulates, so its outputs are written, then rewritten by the call itself.
    const float alpha = 1.0f, beta = 0.0f;
    const float pair_ms = median_ms([&] {
        ENCORE_CUBLAS_CHECK(cublasLtMatmul(handle_, pair.desc, &alpha, first.w, pair.a, first.x,
                                           pair.b, &beta, first.y, pair.c, first.y, pair.c,
                                           &pair.algo, workspace_, workspace_bytes_, stream_));
    });
    const float single_ms = median_ms([&] {
        ENCORE_CUBLAS_CHECK(cublasLtMatmul(handle_, single.desc, &alpha, first.w, single.a, first.x,
                                           single.b, &beta, first.y, single.c, first.y, single.c,
                                           &single.algo, workspace_, workspace_bytes_, stream_));
    });
    const bool slower = 2 * single_ms < pair_ms * (1.0 - k_timed_margin);
    if (timed_log_)
        std::fprintf(stderr, "gemm pair %lld x %lld, %lld rows: %s (%.1f us; alone %.1f us)\n",
                     (long long)m, (long long)k, (long long)n, slower ? "two GEMMs" : "one batch",
                     pair_ms * 1e3, 2 * single_ms * 1e3);
    return slower;
}

Gemm::Plan& Gemm::plan_for(DType dtype, int64_t m, int64_t k, int64_t n, const Operands& call) {
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
        if (!accepts(p.desc, p.a, p.b, p.c, p.algo))
            fail(ErrorKind::unsupported,
                 "--deterministic: the fixed cuBLASLt algorithm of the {} GEMM {}x{} does not run "
                 "with {} rows",
                 dtype_name(dtype), m, k, n);
    } else {
        p.algo = choose(dtype, m, k, n, p.desc);
        if (timed(n)) choose_timed(p, dtype, m, k, n, call);
    }
    return plans_.emplace(key, p).first->second;
}

void Gemm::run(DType dtype, const void* w, int64_t m, int64_t k, const void* x, int64_t n, float* y,
               bool accumulate) {
    if (n == 0 || m == 0) return;
    Plan& p = plan_for(dtype, m, k, n, Operands{w, x, y, accumulate});
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    ENCORE_CUBLAS_CHECK(cublasLtMatmul(handle_, p.desc, &alpha, w, p.a, x, p.b, &beta, y, p.c, y,
                                       p.c, &p.algo, workspace_, workspace_bytes_, stream_));
}

Gemm::Plan* Gemm::pair_plan_for(DType dtype, int64_t m, int64_t k, int64_t n, int64_t stride_w,
                                int64_t stride_y, const Operands& first) {
    const auto key = std::make_tuple(int(dtype), m, k, n);
    auto it = pair_plans_.find(key);
    if (it == pair_plans_.end()) {
        const Plan& single = plan_for(dtype, m, k, n, first);
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
        if (!accepts(p.desc, p.a, p.b, p.c, p.algo)) {
            destroy_layouts(p.a, p.b, p.c);
            p = Plan{};
        }
        if (p.desc && timed(n)) {
            const TimedKey bucket = timed_key(dtype, m, k, n);
            auto s = timed_pair_splits_.find(bucket);
            if (s == timed_pair_splits_.end())
                s = timed_pair_splits_
                        .emplace(bucket, pair_slower_than_two(p, single, m, k, n, first))
                        .first;
            p.split = s->second;
        }
        it = pair_plans_.emplace(key, p).first;
    }
    Plan* p = it->second.desc && !it->second.split ? &it->second : nullptr;
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
        p = pair_plan_for(dtype, m, k, n, bytes_w / element, bytes_y / 4,
                          Operands{w0, x, y0, false});
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
