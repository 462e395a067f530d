// A fixed pool of worker threads for data-parallel loops. `parallel_for` splits a range into one
// contiguous chunk per thread; the calling thread works too and returns when all chunks are done.
// How work is split never changes results: kernels give each output element to exactly one thread
// and compute it in a fixed order.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace encore {

class ThreadPool {
  public:
    // n_threads <= 0 means one per hardware thread.
    explicit ThreadPool(int n_threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int n_threads() const { return int(workers_.size()) + 1; }

    // Calls fn(begin, end, thread_index) over [0, n) in n_threads() contiguous chunks whose
    // boundaries are multiples of `grain` (except the end).
    void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn,
                      int64_t grain = 1);

    // Calls fn(thread_index, n_threads) once on every thread.
    void run_on_all(const std::function<void(int, int)>& fn);

  private:
    void worker_loop(int index);

    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::atomic<const std::function<void(int, int)>*> job_{nullptr};
    std::atomic<uint64_t> generation_{0};  // changed under mutex_, read also without it
    std::atomic<int> pending_{0};
    std::atomic<bool> stop_{false};
};

}  // namespace encore
