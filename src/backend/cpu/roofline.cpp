// Rooflines of this machine (read bandwidth, FMA peak) and the matmul timer (see roofline.h).
#include "backend/cpu/roofline.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "backend/cpu/simd.h"
#include "core/thread_pool.h"
#include "hwy/aligned_allocator.h"

namespace encore {

namespace {

using cpu::DF;
using cpu::VF;
namespace hn = cpu::hn;

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

volatile float g_sink = 0;  // keeps the measured loops from being optimized away
volatile uint32_t g_read_sink = 0;

// Sums the 32-bit words of [p, p + n) with 8 independent vector accumulators (integer adds, so
// the time does not depend on what the bytes mean: weights seen as floats may be subnormal).
uint32_t read_sum(const uint32_t* p, size_t n) {
    const hn::ScalableTag<uint32_t> du;
    using VU = hn::Vec<decltype(du)>;
    const size_t nl = hn::Lanes(du);
    VU a0 = hn::Zero(du), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    size_t i = 0;
    for (; i + 8 * nl <= n; i += 8 * nl) {
        a0 = hn::Add(a0, hn::LoadU(du, p + i));
        a1 = hn::Add(a1, hn::LoadU(du, p + i + nl));
        a2 = hn::Add(a2, hn::LoadU(du, p + i + 2 * nl));
        a3 = hn::Add(a3, hn::LoadU(du, p + i + 3 * nl));
        a4 = hn::Add(a4, hn::LoadU(du, p + i + 4 * nl));
        a5 = hn::Add(a5, hn::LoadU(du, p + i + 5 * nl));
        a6 = hn::Add(a6, hn::LoadU(du, p + i + 6 * nl));
        a7 = hn::Add(a7, hn::LoadU(du, p + i + 7 * nl));
    }
    const VU a = hn::Add(hn::Add(hn::Add(a0, a1), hn::Add(a2, a3)),
                         hn::Add(hn::Add(a4, a5), hn::Add(a6, a7)));
    uint32_t s = hn::GetLane(hn::SumOfLanes(du, a));
    for (; i < n; ++i) {  // the words may be unaligned in a mapped file
        uint32_t w;
        std::memcpy(&w, p + i, sizeof(w));
        s += w;
    }
    return s;
}

// Runs `iters` iterations of 16 independent FMA chains; returns a value depending on all.
float fma_chains(int64_t iters) {
    const DF df;
    constexpr int k_chains = 16;
    VF acc[k_chains];
    for (int c = 0; c < k_chains; ++c) acc[c] = hn::Set(df, float(c) * 1e-3f);
    const VF a = hn::Set(df, 0.999999f), b = hn::Set(df, 1e-7f);
    for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
        for (int c = 0; c < k_chains; ++c) acc[c] = hn::MulAdd(acc[c], a, b);
    }
    VF s = hn::Zero(df);
    for (int c = 0; c < k_chains; ++c) s = hn::Add(s, acc[c]);
    return hn::GetLane(hn::SumOfLanes(df, s));
}

}  // namespace

ReadBandwidthProbe::ReadBandwidthProbe(ThreadPool& pool, size_t bytes) : pool_(pool) {
    const size_t n_floats = bytes / sizeof(float);
    buffer_ = hwy::AllocateAligned<float>(n_floats);
    // Each thread reads [part * t, part * (t + 1)), page aligned.
    const size_t part = n_floats / size_t(pool.n_threads()) / 1024 * 1024;
    pool.run_on_all([&](int t, int) {  // first touch by the reading thread, non-zero values
        float* p = buffer_.get() + part * size_t(t);
        for (size_t i = 0; i < part; ++i) p[i] = 1.0f + float(i & 255) * (1.0f / 256);
    });
    regions_.emplace_back(reinterpret_cast<const uint8_t*>(buffer_.get()),
                          part * size_t(pool.n_threads()) * sizeof(float));
}

ReadBandwidthProbe::ReadBandwidthProbe(ThreadPool& pool,
                                       std::vector<std::span<const uint8_t>> regions)
    : pool_(pool), regions_(std::move(regions)) {}

double ReadBandwidthProbe::pass() {
    const int n_threads = pool_.n_threads();
    std::vector<uint32_t> sums(static_cast<size_t>(n_threads));
    std::vector<size_t> bytes(static_cast<size_t>(n_threads));
    const auto t0 = std::chrono::steady_clock::now();
    pool_.run_on_all([&](int t, int nt) {
        uint32_t sum = 0;
        size_t read = 0;
        for (const auto& r : regions_) {  // this thread's share (whole cache lines), whole words
            const size_t begin = r.size() * size_t(t) / size_t(nt) / 64 * 64;
            const size_t end =
                t + 1 == nt ? r.size() : r.size() * size_t(t + 1) / size_t(nt) / 64 * 64;
            const size_t n = (end - begin) / sizeof(uint32_t);
            sum += read_sum(reinterpret_cast<const uint32_t*>(r.data() + begin), n);
            read += n * sizeof(uint32_t);
        }
        sums[size_t(t)] = sum;
        bytes[size_t(t)] = read;
    });
    const double s = seconds_since(t0);
    size_t total = 0;
    for (int t = 0; t < n_threads; ++t) {
        g_read_sink = g_read_sink + sums[size_t(t)];
        total += bytes[size_t(t)];
    }
    return double(total) / s / 1e9;
}

double FmaPeakProbe::pass() {
    const DF df;
    const int64_t iters = int64_t(1) << 21;
    const double flops_per_thread = double(iters) * 16 * double(hn::Lanes(df)) * 2;
    std::vector<float> sums(static_cast<size_t>(pool_.n_threads()));
    const auto t0 = std::chrono::steady_clock::now();
    pool_.run_on_all([&](int t, int) { sums[size_t(t)] = fma_chains(iters); });
    const double s = seconds_since(t0);
    for (float v : sums) g_sink = g_sink + v;
    return flops_per_thread * pool_.n_threads() / s / 1e9;
}

double measure_read_bandwidth(ThreadPool& pool, size_t bytes) {
    ReadBandwidthProbe probe(pool, bytes);
    double best = 0;
    for (int pass = 0; pass < 6; ++pass) {  // pass 0 is the warm-up
        const double gbps = probe.pass();
        if (pass > 0) best = std::max(best, gbps);
    }
    return best;
}

double measure_fma_peak(ThreadPool& pool) {
    FmaPeakProbe probe(pool);
    double best = 0;
    for (int pass = 0; pass < 6; ++pass) {
        const double gflops = probe.pass();
        if (pass > 0) best = std::max(best, gflops);
    }
    return best;
}

MatmulTiming time_matmul(Backend& backend, DType dtype, int64_t n, int64_t m, int64_t k,
                         int repeats, size_t min_rotate_bytes) {
    std::mt19937 rng(12345);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const int64_t row_bytes = dtype_row_bytes(dtype, k);
    const size_t weight_bytes = size_t(row_bytes * m);
    const size_t n_copies =
        std::max<size_t>(1, (min_rotate_bytes + weight_bytes - 1) / weight_bytes);
    std::vector<uint8_t> weights(weight_bytes * n_copies);  // [n_copies][m, k] in dtype
    std::vector<float> row(static_cast<size_t>(k));         // [k]
    for (int64_t j = 0; j < m; ++j) {
        for (auto& v : row) v = normal(rng) * 0.05f;
        quantize_row(dtype, row.data(), weights.data() + j * row_bytes, k);
    }
    for (size_t c = 1; c < n_copies; ++c)
        std::memcpy(weights.data() + c * weight_bytes, weights.data(), weight_bytes);
    std::vector<float> x(size_t(n * k));  // [n, k]
    for (auto& v : x) v = normal(rng);
    std::vector<float> y(size_t(n * m));  // [n, m]

    std::vector<double> times;
    for (int r = 0; r <= repeats; ++r) {
        const TensorView w =
            make_view(weights.data() + size_t(r) % n_copies * weight_bytes, dtype, {m, k});
        const auto t0 = std::chrono::steady_clock::now();
        backend.matmul(x.data(), n, w, nullptr, y.data());
        if (r > 0) times.push_back(seconds_since(t0));  // the first call is the warm-up
    }
    std::sort(times.begin(), times.end());
    MatmulTiming t;
    t.n = n, t.m = m, t.k = k, t.dtype = dtype;
    t.median_s = times[times.size() / 2];
    t.min_s = times.front();
    t.gflops = 2.0 * double(n) * double(m) * double(k) / t.median_s / 1e9;
    t.weight_gbps = double(weight_bytes) / t.median_s / 1e9;
    return t;
}

}  // namespace encore
