// Kernel bench of the optimized CPU backend against this machine's rooflines: read bandwidth,
// FMA peak, then matmul decode (n = 1, weight GB/s) and prefill (n = 128, GFLOP/s) on the
// Llama-3.2-1B shapes. Not part of the CMake build; build by hand against the built libraries:
//   g++ -O2 -march=native -std=c++20 -Isrc bench/kernels_bench.cpp -o build-be/kernels_bench \
//       build-be/libencore_backend.a build-be/libencore_core.a -lhwy -lfmt -lpthread
//   build-be/kernels_bench [dtype=bf16] [threads=0] [shape m,k or all] [decode reps] [prefill reps]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include <unistd.h>

#include "backend/backend.h"
#include "backend/cpu/roofline.h"
#include "core/thread_pool.h"

using namespace encore;

// The machine is shared: waits (up to `max_s` seconds) until the CPUs were at least 90% idle over
// the last 300 ms, so rooflines and kernels are timed in the same quiet conditions.
static void wait_quiet(double max_s = 60) {
    auto sample = [] {
        unsigned long long v[10] = {};
        FILE* f = std::fopen("/proc/stat", "r");
        if (!f) return std::pair<double, double>(0, 0);
        if (std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                        &v[3], &v[4], &v[5], &v[6], &v[7]) != 8) {
            std::fclose(f);
            return std::pair<double, double>(0, 0);
        }
        std::fclose(f);
        double total = 0;
        for (int i = 0; i < 8; ++i) total += double(v[i]);
        return std::pair<double, double>(double(v[3] + v[4]), total);
    };
    for (double waited = 0; waited < max_s; waited += 0.3) {
        const auto a = sample();
        usleep(300000);
        const auto b = sample();
        if (b.second - a.second <= 0 || (b.first - a.first) / (b.second - a.second) > 0.9) return;
    }
}

int main(int argc, char** argv) {
    DType dtype = DType::bf16;
    if (argc > 1) {
        for (DType t : {DType::f32, DType::f16, DType::bf16, DType::q8_0, DType::q4_0})
            if (dtype_name(t) == argv[1]) dtype = t;
    }
    ThreadPool pool(argc > 2 ? std::atoi(argv[2]) : 0);
    const char* only = argc > 3 && std::strcmp(argv[3], "all") != 0 ? argv[3] : nullptr;
    const int decode_reps = argc > 4 ? std::atoi(argv[4]) : 21;
    const int prefill_reps = argc > 5 ? std::atoi(argv[5]) : 7;
    auto backend = make_cpu_backend(pool);
    std::printf("threads %d  dtype %s\n", pool.n_threads(), std::string(dtype_name(dtype)).c_str());
    const int64_t shapes[][2] = {
        {2048, 2048}, {512, 2048}, {8192, 2048}, {2048, 8192}, {128256, 2048}};
    for (const auto& s : shapes) {
        char name[64];
        std::snprintf(name, sizeof(name), "%lld,%lld", (long long)s[0], (long long)s[1]);
        if (only && std::strcmp(only, name) != 0) continue;
        // Each kernel next to a roofline measured just before it, in quiet conditions.
        wait_quiet();
        const double bw = measure_read_bandwidth(pool);
        const MatmulTiming d = time_matmul(*backend, dtype, 1, s[0], s[1], decode_reps);
        wait_quiet();
        const double peak = measure_fma_peak(pool);
        const MatmulTiming p = time_matmul(*backend, dtype, 128, s[0], s[1], prefill_reps, 0);
        const double d_best = d.weight_gbps * d.median_s / d.min_s;
        const double p_best = p.gflops * p.median_s / p.min_s;
        std::printf(
            "m %6lld k %5lld | bw %5.1f GB/s decode median %6.1f GB/s (%5.1f%%) best %5.1f "
            "(%5.1f%%) | peak %5.1f prefill128 median %5.1f GFLOP/s (%5.1f%%) best %5.1f "
            "(%5.1f%%)\n",
            (long long)s[0], (long long)s[1], bw, d.weight_gbps, 100 * d.weight_gbps / bw, d_best,
            100 * d_best / bw, peak, p.gflops, 100 * p.gflops / peak, p_best, 100 * p_best / peak);
        std::fflush(stdout);
    }
}
