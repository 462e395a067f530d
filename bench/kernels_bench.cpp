// Kernel bench of the optimized CPU backend against this machine's rooflines: all-core read
// bandwidth, all-core FMA peak, then matmul decode (n = 1, weight GB/s) and prefill (n = 128,
// GFLOP/s) on the Llama-3.2-1B shapes. The machine may be shared (also at the memory controller,
// by other virtual machines), so the whole measurement is repeated in rounds, each kernel timed
// right after its roofline. The summary gives, per shape, the median over rounds of (kernel median
// / roofline) and "best": the fastest kernel call of all rounds over the best roofline of all
// rounds (both measured as best-of, so least disturbed).
//
// Not part of the CMake build; build by hand against the built libraries:
//   g++ -O2 -march=native -std=c++20 -Isrc bench/kernels_bench.cpp -o build-be/kernels_bench
//       build-be/libencore_backend.a build-be/libencore_core.a -lhwy -lfmt -lpthread
// (one command line)
//   build-be/kernels_bench [dtype=bf16] [threads=0] [rounds=5] [shape m,k or all]
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/roofline.h"
#include "core/thread_pool.h"

using namespace encore;

namespace {

// Waits (up to `max_s` seconds) until the CPUs were at least 90% idle over 300 ms.
void wait_quiet(double max_s = 30) {
    auto sample = [] {
        unsigned long long v[8] = {};
        FILE* f = std::fopen("/proc/stat", "r");
        if (!f) return std::pair<double, double>(0, 0);
        const int got = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                                    &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
        std::fclose(f);
        if (got != 8) return std::pair<double, double>(0, 0);
        double total = 0;
        for (auto x : v) total += double(x);
        return std::pair<double, double>(double(v[3] + v[4]), total);
    };
    for (double waited = 0; waited < max_s; waited += 0.3) {
        const auto a = sample();
        usleep(300000);
        const auto b = sample();
        if (b.second - a.second <= 0 || (b.first - a.first) / (b.second - a.second) > 0.9) return;
    }
}

struct Round {
    double bw, decode_gbps, decode_best_gbps, peak, prefill_gflops, prefill_best_gflops;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    DType dtype = DType::bf16;
    if (argc > 1) {
        for (DType t : {DType::f32, DType::f16, DType::bf16, DType::q8_0, DType::q4_0})
            if (dtype_name(t) == argv[1]) dtype = t;
    }
    ThreadPool pool(argc > 2 ? std::atoi(argv[2]) : 0);
    const int rounds = argc > 3 ? std::max(1, std::atoi(argv[3])) : 5;
    const char* only = argc > 4 && std::strcmp(argv[4], "all") != 0 ? argv[4] : nullptr;
    auto backend = make_cpu_backend(pool);
    std::printf("encore kernels_bench: dtype %s, %d threads, %d rounds\n",
                std::string(dtype_name(dtype)).c_str(), pool.n_threads(), rounds);

    const int64_t shapes[][2] = {
        {2048, 2048}, {512, 2048}, {8192, 2048}, {2048, 8192}, {128256, 2048}};
    std::vector<std::vector<Round>> results(std::size(shapes));
    for (int r = 0; r < rounds; ++r) {
        for (size_t s = 0; s < std::size(shapes); ++s) {
            const int64_t m = shapes[s][0], k = shapes[s][1];
            char name[64];
            std::snprintf(name, sizeof(name), "%lld,%lld", (long long)m, (long long)k);
            if (only && std::strcmp(only, name) != 0) continue;
            Round round;
            wait_quiet();
            round.bw = measure_read_bandwidth(pool);
            const MatmulTiming d = time_matmul(*backend, dtype, 1, m, k, 21);
            round.decode_gbps = d.weight_gbps;
            round.decode_best_gbps = d.weight_gbps * d.median_s / d.min_s;
            wait_quiet();
            round.peak = measure_fma_peak(pool);
            const MatmulTiming p = time_matmul(*backend, dtype, 128, m, k, 7, 0);
            round.prefill_gflops = p.gflops;
            round.prefill_best_gflops = p.gflops * p.median_s / p.min_s;
            results[s].push_back(round);
            std::printf(
                "round %d  m %6lld k %5lld | bw %5.1f GB/s decode %5.1f GB/s (%5.1f%%) | "
                "peak %5.1f GFLOP/s prefill %5.1f GFLOP/s (%5.1f%%)\n",
                r, (long long)m, (long long)k, round.bw, round.decode_gbps,
                100 * round.decode_gbps / round.bw, round.peak, round.prefill_gflops,
                100 * round.prefill_gflops / round.peak);
            std::fflush(stdout);
        }
    }
    std::printf(
        "\nsummary: median over rounds of kernel/roofline; best = best kernel call / best "
        "roofline\n");
    for (size_t s = 0; s < std::size(shapes); ++s) {
        if (results[s].empty()) continue;
        std::vector<double> d, p, dg, pg;
        double bw = 0, pk = 0, d_best = 0, p_best = 0;
        for (const Round& r : results[s]) {
            d.push_back(r.decode_gbps / r.bw);
            p.push_back(r.prefill_gflops / r.peak);
            dg.push_back(r.decode_gbps), pg.push_back(r.prefill_gflops);
            bw = std::max(bw, r.bw), pk = std::max(pk, r.peak);
            d_best = std::max(d_best, r.decode_best_gbps);
            p_best = std::max(p_best, r.prefill_best_gflops);
        }
        std::printf(
            "m %6lld k %5lld | decode median %5.1f GB/s = %5.1f%%, best %5.1f of %5.1f GB/s = "
            "%5.1f%% | prefill128 median %5.1f GFLOP/s = %5.1f%%, best %5.1f of %5.1f = "
            "%5.1f%%\n",
            (long long)shapes[s][0], (long long)shapes[s][1], median(dg), 100 * median(d), d_best,
            bw, 100 * d_best / bw, median(pg), 100 * median(p), p_best, pk, 100 * p_best / pk);
    }
}
