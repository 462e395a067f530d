// Worker threads for data-parallel loops (see thread_pool.h). Workers wait on a condition
// variable for a new job generation; the caller spins briefly on the pending count, since jobs are
// short (one matmul) and come in rapid succession.
#include "core/thread_pool.h"

#include <algorithm>

namespace encore {

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) n_threads = int(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
}

void ThreadPool::worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
        const std::function<void(int, int)>* job;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
            if (stop_) return;
            seen = generation_;
            job = job_;
        }
        (*job)(index, n_threads());
        pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void ThreadPool::run_on_all(const std::function<void(int, int)>& fn) {
    if (workers_.empty()) {
        fn(0, 1);
        return;
    }
    pending_.store(int(workers_.size()), std::memory_order_release);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        job_ = &fn;
        ++generation_;
    }
    wake_.notify_all();
    fn(0, n_threads());
    while (pending_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn,
                              int64_t grain) {
    if (n <= 0) return;
    grain = std::max<int64_t>(1, grain);
    const int64_t n_grains = (n + grain - 1) / grain;
    const int n_used = int(std::min<int64_t>(n_threads(), n_grains));
    if (n_used == 1) {
        fn(0, n, 0);
        return;
    }
    run_on_all([&](int index, int) {
        if (index >= n_used) return;
        const int64_t g0 = n_grains * index / n_used, g1 = n_grains * (index + 1) / n_used;
        const int64_t begin = g0 * grain, end = std::min(n, g1 * grain);
        if (begin < end) fn(begin, end, index);
    });
}

}  // namespace encore
