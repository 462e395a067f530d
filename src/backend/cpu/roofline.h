// Machine rooflines and op timing for `encore bench`: the all-core memory read bandwidth (a
// STREAM-like read loop), the all-core f32 FMA peak, and the median time of one matmul of a given
// shape and weight dtype on any Backend, so a bench can report each op as a fraction of the
// roofline measured in the same run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "core/dtype.h"
#include "hwy/aligned_allocator.h"

namespace encore {

class ThreadPool;

// The all-core memory read roofline: all threads of `pool` sum disjoint parts of memory larger
// than the caches with the widest vector loads, as a STREAM-like read. Either over a buffer of the
// probe's own, allocated and touched once (so passes can be interleaved with the work they are
// compared with: on a shared machine the available bandwidth moves from second to second, and
// only a pass taken next to the work measures the same conditions), or over memory that exists
// elsewhere, such as the weights a decoded token reads: each thread then reads its contiguous
// share of every region, in order, with no synchronization between regions. The second reads
// the very pages the work reads; on a VM their speed can differ from one allocation to another.
class ReadBandwidthProbe {
  public:
    explicit ReadBandwidthProbe(ThreadPool& pool, size_t bytes = size_t(1) << 30);
    ReadBandwidthProbe(ThreadPool& pool, std::vector<std::span<const uint8_t>> regions);
    double pass();  // GB/s (1e9 bytes/s) of one pass over the buffer or the regions

  private:
    ThreadPool& pool_;
    hwy::AlignedFreeUniquePtr<float[]> buffer_;
    std::vector<std::span<const uint8_t>> regions_;
};

// The all-core f32 FMA peak: 16 independent FMA chains per thread (enough to cover the latency).
class FmaPeakProbe {
  public:
    explicit FmaPeakProbe(ThreadPool& pool) : pool_(pool) {}
    double pass();  // GFLOP/s (an FMA counts 2 flops) of one run of a few milliseconds

  private:
    ThreadPool& pool_;
};

// Best of several passes after a warm-up.
double measure_read_bandwidth(ThreadPool& pool, size_t bytes = size_t(1) << 30);
double measure_fma_peak(ThreadPool& pool);

struct MatmulTiming {
    int64_t n = 0, m = 0, k = 0;
    DType dtype = DType::f32;
    double median_s = 0;     // median seconds of one matmul call
    double min_s = 0;        // fastest call (less sensitive to other load on a shared machine)
    double gflops = 0;       // 2 n m k / median_s / 1e9
    double weight_gbps = 0;  // weight bytes / median_s / 1e9 (the decode figure)
};

// Times y[n, m] = x[n, k] · W[m, k]ᵀ with random weights of `dtype`: one warm-up, then `repeats`
// calls, median. Each call reads the weights from a copy that was not touched by the previous
// `min_rotate_bytes` of weights (the copies are rotated), so small matrices are timed from memory
// rather than from the last-level cache; pass 0 to time them cache-hot.
MatmulTiming time_matmul(Backend& backend, DType dtype, int64_t n, int64_t m, int64_t k,
                         int repeats = 9, size_t min_rotate_bytes = size_t(256) << 20);

}  // namespace encore
