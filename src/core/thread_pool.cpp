// Worker threads for data-parallel loops (see thread_pool.h). After a job a worker spins for a
// short while (about 100 microseconds) watching for the next one before it sleeps on a condition
// variable: a forward pass issues its jobs (one per matmul or elementwise op) in rapid
// succession, and waking a sleeping thread costs tens of microseconds, more than many decode
// jobs take. The caller spins on the pending count for the same reason, then yields.
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
        stop_.store(true);
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
}

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
}

constexpr int k_spin_iterations = 2048;  // pauses before sleeping: ~100 us on current x86

}  // namespace

void ThreadPool::worker_loop(int index) {
    uint64_t seen = 0;
    for (;;) {
        for (int i = 0; i < k_spin_iterations; ++i) {
            if (generation_.load(std::memory_order_acquire) != seen ||
                stop_.load(std::memory_order_relaxed))
                break;
            cpu_relax();
        }
        if (generation_.load(std::memory_order_acquire) == seen && !stop_.load()) {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] {
                return stop_.load() || generation_.load(std::memory_order_acquire) != seen;
            });
        }
        if (stop_.load()) return;
        seen = generation_.load(std::memory_order_acquire);
        const std::function<void(int, int)>* job = job_.load(std::memory_order_acquire);
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
        job_.store(&fn, std::memory_order_release);
        generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    wake_.notify_all();
    fn(0, n_threads());
    // Pauses first (a yield is a system call, costly in a VM), then yields in case a worker
    // waits for this core.
    for (int i = 0; i < k_spin_iterations && pending_.load(std::memory_order_acquire) != 0; ++i)
        cpu_relax();
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
