// Every cuBLASLt algorithm candidate for the prefill GEMMs of the CUDA backend, timed: the
// layer shapes of a Llama-3-8B-shaped model (y[n, m] = x[n, k] · W[m, k]ᵀ, bf16 inputs, f32
// accumulation and output, the layouts backend/cuda/gemm.cpp uses) at a few batch sizes, each
// candidate of cuBLASLt's heuristic in its order (index 0 is the one encore runs), as TFLOP/s and
// as a fraction of a bf16 8192³ GEMM measured in the same run, with the heuristic's own wave
// count. Pairs of equal shapes (k/v, gate/up) are also timed as one strided batch of two with
// candidate 0 of the single shape (the same kernel, so the same bits as two calls) and with the
// batch's own candidate 0. Two shapes that encore does not run yet are timed as one GEMM of the
// concatenated weights: q/k/v (6144 x 4096) and gate|up (28672 x 4096). For every shape,
// candidate 0 is also timed with split-K 2, 3 and 4 under each reduction scheme cuBLASLt accepts
// for it (the schemes that are not accepted are not printed).
//
// The inputs are random bf16 values in (-1, 1) by default (`--constant` fills one constant
// value, as the first version of this probe did: constant data runs faster on the tensor cores,
// 861 TFLOP/s against 769-773 on random data for the 8192³ reference on an H100). Compare
// candidates within one run only.
//
// Not part of the CMake build; on a machine with the CUDA toolkit:
//   g++ -O2 -std=c++17 bench/gemm_candidates.cpp -I/usr/local/cuda/include
//       -L/usr/local/cuda/lib64 -lcublasLt -lcudart -o gemm_candidates
// (one command line)
//   ./gemm_candidates [--constant] [n ...]      (default n: 512 2048 9600)
#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) {
        std::fprintf(stderr, "gemm_candidates: %s: %s\n", what, cudaGetErrorString(e));
        std::exit(1);
    }
}
void check(cublasStatus_t s, const char* what) {
    if (s != CUBLAS_STATUS_SUCCESS) {
        std::fprintf(stderr, "gemm_candidates: %s: cuBLAS status %d\n", what, int(s));
        std::exit(1);
    }
}

struct Problem {
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, c;
};

// W [m, k] row-major seen as k x m (used transposed), x as k x n, y as m x n; `batch` matrices
// `stride_*` elements apart.
Problem make_problem(int64_t m, int64_t k, int64_t n, int batch, int64_t stride_w,
                     int64_t stride_y) {
    Problem p;
    check(cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "desc");
    const cublasOperation_t t = CUBLAS_OP_T, nt = CUBLAS_OP_N;
    check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &t, sizeof(t)), "a");
    check(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &nt, sizeof(nt)),
          "b");
    check(cublasLtMatrixLayoutCreate(&p.a, CUDA_R_16BF, uint64_t(k), uint64_t(m), k), "layout");
    check(cublasLtMatrixLayoutCreate(&p.b, CUDA_R_16BF, uint64_t(k), uint64_t(n), k), "layout");
    check(cublasLtMatrixLayoutCreate(&p.c, CUDA_R_32F, uint64_t(m), uint64_t(n), m), "layout");
    if (batch > 1) {
        const int64_t zero = 0;
        for (auto [l, s] :
             {std::pair{p.a, stride_w}, std::pair{p.b, zero}, std::pair{p.c, stride_y}}) {
            check(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch,
                                                   sizeof(batch)),
                  "batch");
            check(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                   &s, sizeof(s)),
                  "stride");
        }
    }
    return p;
}

void destroy(Problem& p) {
    cublasLtMatrixLayoutDestroy(p.a);
    cublasLtMatrixLayoutDestroy(p.b);
    cublasLtMatrixLayoutDestroy(p.c);
    cublasLtMatmulDescDestroy(p.desc);
}

struct Context {
    cublasLtHandle_t handle;
    cudaStream_t stream;
    void* workspace;
    size_t workspace_bytes = size_t(32) << 20;
};

// Median milliseconds of one call over 9 after 2 warm-ups; negative if the algorithm fails.
double time_ms(Context& cx, Problem& p, const cublasLtMatmulAlgo_t& algo, const void* w,
               const void* x, float* y) {
    cudaEvent_t e0, e1;
    check(cudaEventCreate(&e0), "event");
    check(cudaEventCreate(&e1), "event");
    const float alpha = 1, beta = 0;
    std::vector<float> ms;
    for (int r = 0; r < 11; ++r) {
        check(cudaEventRecord(e0, cx.stream), "event");
        if (cublasLtMatmul(cx.handle, p.desc, &alpha, w, p.a, x, p.b, &beta, y, p.c, y, p.c, &algo,
                           cx.workspace, cx.workspace_bytes, cx.stream) != CUBLAS_STATUS_SUCCESS)
            return -1;
        check(cudaEventRecord(e1, cx.stream), "event");
        check(cudaEventSynchronize(e1), "matmul");
        float t = 0;
        check(cudaEventElapsedTime(&t, e0, e1), "event");
        if (r >= 2) ms.push_back(t);
    }
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

int heuristics(Context& cx, Problem& p, cublasLtMatmulHeuristicResult_t (&out)[16]) {
    cublasLtMatmulPreference_t pref;
    check(cublasLtMatmulPreferenceCreate(&pref), "preference");
    check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                               &cx.workspace_bytes, sizeof(cx.workspace_bytes)),
          "preference");
    int found = 0;
    check(cublasLtMatmulAlgoGetHeuristic(cx.handle, p.desc, p.a, p.b, p.c, p.c, pref, 16, out,
                                         &found),
          "heuristic");
    cublasLtMatmulPreferenceDestroy(pref);
    return found;
}

// Fills `count` bf16 values at `device`: random in (-1, 1) (xorshift, fixed seed) or constant.
void fill_bf16(void* device, size_t count, bool constant, uint64_t seed) {
    if (constant) {
        check(cudaMemset(device, 0x3c, count * 2), "fill");  // small bf16 values, no infinities
        return;
    }
    std::vector<uint16_t> host(count);
    uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < count; ++i) {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        const float v = float(int64_t(state >> 40) - (int64_t(1) << 23)) / float(1 << 23);
        uint32_t bits;
        std::memcpy(&bits, &v, 4);
        host[i] = uint16_t(bits >> 16);
    }
    check(cudaMemcpy(device, host.data(), count * 2, cudaMemcpyHostToDevice), "fill");
}

// Candidate 0 with split-K `splits` under `scheme`, if cuBLASLt accepts that configuration.
bool split_k_variant(Context& cx, Problem& p, const cublasLtMatmulAlgo_t& base, int32_t splits,
                     uint32_t scheme, cublasLtMatmulAlgo_t& out) {
    out = base;
    if (cublasLtMatmulAlgoConfigSetAttribute(&out, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splits,
                                             sizeof(splits)) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatmulAlgoConfigSetAttribute(&out, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME, &scheme,
                                             sizeof(scheme)) != CUBLAS_STATUS_SUCCESS)
        return false;
    cublasLtMatmulHeuristicResult_t result{};
    return cublasLtMatmulAlgoCheck(cx.handle, p.desc, p.a, p.b, p.c, p.c, &out, &result) ==
               CUBLAS_STATUS_SUCCESS &&
           result.workspaceSize <= cx.workspace_bytes;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<int64_t> ns;
    bool constant = false;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--constant") == 0) {
            constant = true;
            continue;
        }
        char* end = nullptr;
        const long long n = std::strtoll(argv[i], &end, 10);
        if (*end != '\0' || n < 1 || n > 65536) {
            std::fprintf(stderr, "gemm_candidates: '%s' is not a batch size (1 to 65536)\n",
                         argv[i]);
            return 2;
        }
        ns.push_back(n);
    }
    if (ns.empty()) ns = {512, 2048, 9600};
    Context cx;
    check(cudaStreamCreate(&cx.stream), "stream");
    check(cublasLtCreate(&cx.handle), "cublasLt");
    check(cudaMalloc(&cx.workspace, cx.workspace_bytes), "workspace");
    // Buffers big enough for every problem below (two weights of 14336 x 4096, or one of 28672 x
    // 4096; x; y).
    const int64_t max_n = std::max<int64_t>(8192, *std::max_element(ns.begin(), ns.end()));
    const size_t w_elems = size_t(2) * 14336 * 4096, x_elems = size_t(max_n) * 14336,
                 y_elems = size_t(2) * max_n * 14336;
    void *w, *x;
    float* y;
    check(cudaMalloc(&w, w_elems * 2), "weights");
    check(cudaMalloc(&x, x_elems * 2), "x");
    check(cudaMalloc(reinterpret_cast<void**>(&y), y_elems * 4), "y");
    fill_bf16(w, w_elems, constant, 1);
    fill_bf16(x, x_elems, constant, 2);
    std::printf("inputs: %s\n", constant ? "one constant bf16 value" : "random bf16 in (-1, 1)");

    cublasLtMatmulHeuristicResult_t res[16];
    double peak = 0;
    {
        Problem p = make_problem(8192, 8192, 8192, 1, 0, 0);
        heuristics(cx, p, res);
        const double ms = time_ms(cx, p, res[0].algo, w, x, y);
        peak = 2.0 * 8192 * 8192 * 8192 / (ms * 1e-3) / 1e12;
        destroy(p);
    }
    std::printf("bf16 8192^3 GEMM: %.1f TFLOP/s\n", peak);
    struct Shape {
        const char* name;
        int64_t m, k;
        int pair;  // also timed as a strided batch of two
    };
    const Shape shapes[] = {{"q/o", 4096, 4096, 1},          {"k/v", 1024, 4096, 2},
                            {"gate/up", 14336, 4096, 2},     {"down", 4096, 14336, 1},
                            {"q/k/v as one", 6144, 4096, 1}, {"gate|up as one", 28672, 4096, 1}};
    for (int64_t n : ns) {
        for (const Shape& s : shapes) {
            const double flop = 2.0 * double(s.m) * double(s.k) * double(n);
            Problem p = make_problem(s.m, s.k, n, 1, 0, 0);
            const int found = heuristics(cx, p, res);
            std::printf("n %lld %s (%lld x %lld): %d candidates\n", (long long)n, s.name,
                        (long long)s.m, (long long)s.k, found);
            for (int i = 0; i < found; ++i) {
                const double ms = time_ms(cx, p, res[i].algo, w, x, y);
                if (ms < 0) {
                    std::printf("  %2d  fails\n", i);
                    continue;
                }
                const double tf = flop / (ms * 1e-3) / 1e12;
                std::printf("  %2d  %8.1f us  %6.1f TFLOP/s  %5.1f%%  waves %.2f\n", i, ms * 1e3,
                            tf, 100 * tf / peak, double(res[i].wavesCount));
            }
            const std::pair<uint32_t, const char*> schemes[] = {
                {CUBLASLT_REDUCTION_SCHEME_INPLACE, "in place"},
                {CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE, "f32 workspace"},
                {CUBLASLT_REDUCTION_SCHEME_OUTPUT_TYPE, "output-type workspace"}};
            for (int32_t splits = 2; found > 0 && splits <= 4; ++splits)
                for (const auto& [scheme, label] : schemes) {
                    cublasLtMatmulAlgo_t algo;
                    if (!split_k_variant(cx, p, res[0].algo, splits, scheme, algo)) continue;
                    const double ms = time_ms(cx, p, algo, w, x, y);
                    if (ms < 0) continue;
                    const double tf = flop / (ms * 1e-3) / 1e12;
                    std::printf("   0, split-K %d, %s: %8.1f us  %6.1f TFLOP/s  %5.1f%%\n", splits,
                                label, ms * 1e3, tf, 100 * tf / peak);
                }
            if (s.pair == 2 && found > 0) {
                Problem b = make_problem(s.m, s.k, n, 2, s.m * s.k, s.m * n);
                auto time_pair = [&](const char* label, const cublasLtMatmulAlgo_t& algo) {
                    const double ms = time_ms(cx, b, algo, w, x, y);
                    const double tf = 2 * flop / (ms * 1e-3) / 1e12;
                    std::printf("  pair, %s: %8.1f us  %6.1f TFLOP/s  %5.1f%%\n", label, ms * 1e3,
                                tf, 100 * tf / peak);
                };
                cublasLtMatmulHeuristicResult_t check_result{};
                if (cublasLtMatmulAlgoCheck(cx.handle, b.desc, b.a, b.b, b.c, b.c, &res[0].algo,
                                            &check_result) == CUBLAS_STATUS_SUCCESS)
                    time_pair("candidate 0 as a batch of two", res[0].algo);
                else
                    std::printf("  pair: candidate 0 does not run as a batch\n");
                cublasLtMatmulHeuristicResult_t bres[16];
                if (heuristics(cx, b, bres) > 0)
                    time_pair("the batch's own candidate 0", bres[0].algo);
                destroy(b);
            }
            destroy(p);
        }
    }
    return 0;
}
