// Kernel bench of the optimized CPU backend against this machine's rooflines: read bandwidth,
// FMA peak, then matmul decode (n = 1, weight GB/s) and prefill (n = 128, GFLOP/s) on the
// Llama-3.2-1B shapes. Not part of the CMake build; build by hand against the built libraries:
//   g++ -O2 -march=native -std=c++20 -Isrc bench/kernels_bench.cpp -o build-be/kernels_bench \
//       build-be/libencore_backend.a build-be/libencore_core.a -lhwy -lfmt -lpthread
//   build-be/kernels_bench [dtype=bf16] [threads=0] [shape filter m,k]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backend/backend.h"
#include "backend/cpu/roofline.h"
#include "core/thread_pool.h"

using namespace encore;

int main(int argc, char** argv) {
    DType dtype = DType::bf16;
    if (argc > 1) {
        for (DType t : {DType::f32, DType::f16, DType::bf16, DType::q8_0, DType::q4_0})
            if (dtype_name(t) == argv[1]) dtype = t;
    }
    ThreadPool pool(argc > 2 ? std::atoi(argv[2]) : 0);
    const char* only = argc > 3 ? argv[3] : nullptr;
    auto backend = make_cpu_backend(pool);
    const double bw = measure_read_bandwidth(pool);
    const double peak = measure_fma_peak(pool);
    std::printf("threads %d  read bandwidth %.1f GB/s  fma peak %.1f GFLOP/s  dtype %s\n",
                pool.n_threads(), bw, peak, std::string(dtype_name(dtype)).c_str());
    const int64_t shapes[][2] = {
        {2048, 2048}, {512, 2048}, {8192, 2048}, {2048, 8192}, {128256, 2048}};
    for (const auto& s : shapes) {
        char name[64];
        std::snprintf(name, sizeof(name), "%lld,%lld", (long long)s[0], (long long)s[1]);
        if (only && std::strcmp(only, name) != 0) continue;
        const MatmulTiming d = time_matmul(*backend, dtype, 1, s[0], s[1], 21);
        const MatmulTiming p = time_matmul(*backend, dtype, 128, s[0], s[1], 5, 0);
        std::printf(
            "m %6lld k %5lld | decode %8.3f ms %6.1f GB/s (%5.1f%% bw) | prefill128 %8.2f ms "
            "%6.1f GFLOP/s (%5.1f%% peak)\n",
            (long long)s[0], (long long)s[1], d.median_s * 1e3, d.weight_gbps,
            100 * d.weight_gbps / bw, p.median_s * 1e3, p.gflops, 100 * p.gflops / peak);
    }
}
