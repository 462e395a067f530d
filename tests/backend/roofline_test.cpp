// The roofline measurements and the matmul timer return sensible, positive figures (they are
// benchmarks: their values are reported by `encore bench`, not asserted here).
#include "backend/cpu/roofline.h"

#include <gtest/gtest.h>

#include "core/thread_pool.h"

namespace encore {
namespace {

TEST(Roofline, MeasuresBandwidthPeakAndMatmulTime) {
    ThreadPool pool(2);
    const double bw = measure_read_bandwidth(pool, size_t(64) << 20);
    EXPECT_GT(bw, 0.1);
    EXPECT_LT(bw, 10000.0);
    const double peak = measure_fma_peak(pool);
    EXPECT_GT(peak, 0.1);
    auto backend = make_cpu_backend(pool);
    const MatmulTiming t = time_matmul(*backend, DType::bf16, 4, 256, 688, 3, 0);
    EXPECT_EQ(t.n, 4);
    EXPECT_EQ(t.m, 256);
    EXPECT_GT(t.median_s, 0.0);
    EXPECT_GE(t.median_s, t.min_s);
    EXPECT_NEAR(t.gflops, 2.0 * 4 * 256 * 688 / t.median_s / 1e9, 1e-6 * t.gflops);
}

// The read roofline over memory it is given (the bench passes the weights a token reads):
// regions of any size and alignment, read on every thread.
TEST(Roofline, ReadsGivenRegions) {
    ThreadPool pool(2);
    std::vector<uint8_t> memory(size_t(8) << 20, 1);
    const std::vector<std::span<const uint8_t>> regions = {{memory.data() + 3, size_t(5) << 20},
                                                           {memory.data() + (6 << 20), 1000},
                                                           {memory.data(), 5}};
    ReadBandwidthProbe probe(pool, regions);
    for (int pass = 0; pass < 3; ++pass) {
        const double gbps = probe.pass();
        EXPECT_GT(gbps, 0.1);
        EXPECT_LT(gbps, 10000.0);
    }
}

}  // namespace
}  // namespace encore
