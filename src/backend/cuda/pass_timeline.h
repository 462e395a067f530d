// Where the time of a forward pass goes between the host and the GPU, for the CUDA backend's
// measurements (ENCORE_CUDA_TIMELINE=1 in the environment; off otherwise, and then it costs one
// branch per pass). A pass runs from begin_batch to the to_host that brings its results back. Per
// pass it records, with CUDA events on the backend's stream and the host's steady clock:
// - the host's time from the previous pass's results to this pass's first op (engine work the
//   GPU waits for),
// - the host's time enqueuing the pass (begin_batch to to_host),
// - the GPU's span from the pass's first op to its last kernel (work and every gap inside it),
// - the copy of the results to the host.
// At destruction it prints medians of each to stderr. Passes without a to_host (a prefill that
// keeps no logits) are not counted.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "backend/cuda/env_switch.h"

namespace encore::cuda {

class PassTimeline {
  public:
    PassTimeline() {
        on_ = env_equals("ENCORE_CUDA_TIMELINE", "1");
        if (!on_) return;
        cudaEventCreate(&begin_);
        cudaEventCreate(&kernels_done_);
        cudaEventCreate(&copied_);
    }
    ~PassTimeline() {
        if (!on_) return;
        report();
        cudaEventDestroy(begin_);
        cudaEventDestroy(kernels_done_);
        cudaEventDestroy(copied_);
    }
    PassTimeline(const PassTimeline&) = delete;
    PassTimeline& operator=(const PassTimeline&) = delete;

    // The pass's first op is about to be enqueued on `stream`.
    void begin_pass(cudaStream_t stream) {
        if (!on_) return;
        host_begin_ = Clock::now();
        cudaEventRecord(begin_, stream);
        open_ = true;
    }
    // The pass's results are about to be copied to the host (every kernel enqueued).
    void before_copy(cudaStream_t stream) {
        if (!on_ || !open_) return;
        host_enqueued_ = Clock::now();
        cudaEventRecord(kernels_done_, stream);
    }
    // The copy is enqueued; the host waits for the stream next.
    void after_copy(cudaStream_t stream) {
        if (!on_ || !open_) return;
        cudaEventRecord(copied_, stream);
    }
    // The host has the results (the stream is drained).
    void results_on_host() {
        if (!on_ || !open_) return;
        const auto now = Clock::now();
        float span_ms = 0, copy_ms = 0;
        cudaEventElapsedTime(&span_ms, begin_, kernels_done_);
        cudaEventElapsedTime(&copy_ms, kernels_done_, copied_);
        if (has_results_) host_between_.push_back(us(host_begin_ - last_results_));
        host_enqueue_.push_back(us(host_enqueued_ - host_begin_));
        host_wait_.push_back(us(now - host_enqueued_));
        gpu_span_.push_back(1000.0 * span_ms);
        gpu_copy_.push_back(1000.0 * copy_ms);
        last_results_ = now;
        has_results_ = true;
        open_ = false;
    }

  private:
    using Clock = std::chrono::steady_clock;
    static double us(Clock::duration d) {
        return std::chrono::duration<double, std::micro>(d).count();
    }
    static double median(std::vector<double> v) {
        if (v.empty()) return 0;
        std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
        return v[v.size() / 2];
    }
    void report() const {
        std::fprintf(stderr,
                     "cuda timeline: %zu passes (medians, us): host from the last results to the "
                     "first op %.1f, host enqueuing %.1f, host waiting %.1f; GPU from the first op "
                     "to the last kernel %.1f, results copy %.1f\n",
                     gpu_span_.size(), median(host_between_), median(host_enqueue_),
                     median(host_wait_), median(gpu_span_), median(gpu_copy_));
    }

    bool on_ = false, open_ = false, has_results_ = false;
    cudaEvent_t begin_ = nullptr, kernels_done_ = nullptr, copied_ = nullptr;
    Clock::time_point host_begin_, host_enqueued_, last_results_;
    std::vector<double> host_between_, host_enqueue_, host_wait_, gpu_span_, gpu_copy_;
};

}  // namespace encore::cuda
