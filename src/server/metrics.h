// Metrics: the server's counters, gauges and histograms, rendered as Prometheus text for
// GET /metrics. Written by the HTTP handlers and the scheduler thread, read by any thread.
//
// KV pool accounting comes from a snapshot the scheduler takes after every step (the pool
// itself is touched only by the scheduler thread): blocks in all, referenced by live sequences,
// cached in the prefix index, and reserved for admitted jobs. With no request running,
// referenced and reserved are 0: anything else is a leaked block.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace encore::server {

class Histogram {
  public:
    explicit Histogram(std::vector<double> bounds);
    void observe(double value);
    // Prometheus lines for `name` (buckets, sum, count); `labels` like `model="x"` or empty.
    void render(std::string& out, const std::string& name, const std::string& labels = "") const;

  private:
    std::vector<double> bounds_;
    mutable std::mutex mutex_;
    std::vector<uint64_t> counts_;  // [bounds + 1], the last is +Inf
    double sum_ = 0;
    uint64_t count_ = 0;
};

struct KvSnapshot {
    std::string model;  // the model id of the engine
    int64_t blocks = 0, referenced = 0, cached = 0, available = 0, reserved = 0;
    int64_t block_size = 0;
};

class Metrics {
  public:
    Metrics();

    void count_request(const std::string& endpoint, int status);
    void set_kv(std::vector<KvSnapshot> kv);
    std::vector<KvSnapshot> kv() const;
    std::string render() const;

    std::atomic<int64_t> prompt_tokens{0};  // prompt tokens of admitted jobs
    std::atomic<int64_t> generated_tokens{0};
    std::atomic<int64_t> prefix_hit_tokens{0};    // prompt tokens whose KV was reused
    std::atomic<int64_t> prefix_miss_tokens{0};   // prompt tokens computed
    std::atomic<int64_t> prefix_hit_requests{0};  // jobs that reused at least one block
    std::atomic<int64_t> prefix_miss_requests{0};
    std::atomic<int64_t> prompt_logprob_hit_tokens{0};  // echo log-probabilities from the cache
    std::atomic<int64_t> cancelled_jobs{0};
    std::atomic<int64_t> evals{0};
    std::atomic<int64_t> queue_depth{0};
    std::atomic<int64_t> active_jobs{0};
    std::atomic<int64_t> max_batch_sequences{0};
    Histogram batch_sequences;          // sequences per Engine::eval
    Histogram batch_tokens;             // tokens per Engine::eval
    Histogram request_latency_seconds;  // request arrival to last byte handed over
    Histogram time_to_first_token_seconds;

  private:
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, int>, int64_t> requests_;  // (endpoint, status) -> count
    std::vector<KvSnapshot> kv_;
};

}  // namespace encore::server
