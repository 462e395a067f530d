// Work items [0, n) shared out to the threads of a call in contiguous segments, one per thread.
// A thread takes the items of its own segment from the front, in order, then what the other
// segments have left, from their back. So each thread streams through memory that lies in one
// piece, and a thread that the host slows down or stops is relieved of all but the item it is
// on. Each segment's state is one word on a cache line of its own: taking an item of one's own
// segment touches no line that another thread writes, unless that thread is stealing from it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace encore::cpu {

class WorkSegments {
  public:
    // Splits [0, n_items) into n_threads segments of (nearly) equal length.
    void reset(int64_t n_items, int n_threads) {
        if (n_segments_ < n_threads) {
            segments_ = std::make_unique<Segment[]>(size_t(n_threads));
            n_segments_ = n_threads;
        }
        n_threads_ = n_threads;
        for (int t = 0; t < n_threads; ++t)
            segments_[size_t(t)].range.store(
                uint64_t(n_items * t / n_threads) << 32 | uint64_t(n_items * (t + 1) / n_threads),
                std::memory_order_relaxed);
    }

    // The next item for `thread`, or -1 when every segment is empty.
    int64_t take(int thread) {
        int64_t item = take_from(thread, true);
        for (int d = 1; item < 0 && d < n_threads_; ++d)
            item = take_from((thread + d) % n_threads_, false);
        return item;
    }

  private:
    struct alignas(64) Segment {
        std::atomic<uint64_t> range{0};  // front << 32 | back: the items [front, back) left
    };

    int64_t take_from(int t, bool front) {
        std::atomic<uint64_t>& range = segments_[size_t(t)].range;
        uint64_t s = range.load(std::memory_order_relaxed);
        for (;;) {
            const uint64_t f = s >> 32, b = s & 0xffffffffu;
            if (f >= b) return -1;
            const uint64_t next = front ? (f + 1) << 32 | b : f << 32 | (b - 1);
            if (range.compare_exchange_weak(s, next, std::memory_order_acq_rel))
                return int64_t(front ? f : b - 1);
        }
    }

    std::unique_ptr<Segment[]> segments_;
    int n_segments_ = 0;
    int n_threads_ = 0;
};

}  // namespace encore::cpu
