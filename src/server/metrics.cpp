// Prometheus text rendering of the server's metrics (see metrics.h).
#include "server/metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace encore::server {

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
    std::lock_guard lock(mutex_);
    const size_t i =
        size_t(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
    ++counts_[i];
    sum_ += value;
    ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
    std::lock_guard lock(mutex_);
    const std::string sep = labels.empty() ? "" : ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
        cumulative += counts_[i];
        const std::string le = i < bounds_.size() ? fmt::format("{}", bounds_[i]) : "+Inf";
        out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, le, cumulative);
    }
    const std::string braces = labels.empty() ? "" : "{" + labels + "}";
    out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, sum_, name, braces, count_);
}

namespace {
std::vector<double> powers_of_two(int n) {
    std::vector<double> b;
    for (int i = 0; i < n; ++i) b.push_back(double(1 << i));
    return b;
}
const std::vector<double> k_latency_bounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                              1,     2.5,  5,     10,   30,  60,   120};

void counter(std::string& out, const char* name, const char* help, int64_t value,
             const char* type = "counter") {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
}
}  // namespace

Metrics::Metrics()
    : batch_sequences(powers_of_two(9)),
      batch_tokens(powers_of_two(11)),
      request_latency_seconds(k_latency_bounds),
      time_to_first_token_seconds(k_latency_bounds) {}

void Metrics::count_request(const std::string& endpoint, int status) {
    std::lock_guard lock(mutex_);
    ++requests_[{endpoint, status}];
}

void Metrics::set_kv(std::vector<KvSnapshot> kv) {
    std::lock_guard lock(mutex_);
    kv_ = std::move(kv);
}

std::vector<KvSnapshot> Metrics::kv() const {
    std::lock_guard lock(mutex_);
    return kv_;
}

std::string Metrics::render() const {
    std::string out;
    {
        std::lock_guard lock(mutex_);
        out +=
            "# HELP encore_requests_total HTTP requests answered, by endpoint and status\n"
            "# TYPE encore_requests_total counter\n";
        for (const auto& [key, n] : requests_)
            out += fmt::format("encore_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n",
                               key.first, key.second, n);
    }
    counter(out, "encore_prompt_tokens_total", "prompt tokens of admitted generations",
            prompt_tokens);
    counter(out, "encore_generated_tokens_total", "tokens generated", generated_tokens);
    counter(out, "encore_prefix_cache_hit_tokens_total",
            "prompt tokens whose KV was reused from the prefix cache", prefix_hit_tokens);
    counter(out, "encore_prefix_cache_miss_tokens_total", "prompt tokens computed",
            prefix_miss_tokens);
    counter(out, "encore_prefix_cache_hits_total",
            "generations that reused at least one cached block", prefix_hit_requests);
    counter(out, "encore_prefix_cache_misses_total", "generations that reused nothing",
            prefix_miss_requests);
    counter(out, "encore_prompt_logprob_cache_hit_tokens_total",
            "prompt log-probabilities (echo) served from the cache", prompt_logprob_hit_tokens);
    counter(out, "encore_cancelled_total", "generations cancelled (client gone)", cancelled_jobs);
    counter(out, "encore_evals_total", "batched forward evaluations", evals);
    counter(out, "encore_queue_depth", "generations waiting for admission", queue_depth, "gauge");
    counter(out, "encore_active_requests", "generations admitted and running", active_jobs,
            "gauge");
    counter(out, "encore_batch_sequences_max", "most sequences in one evaluation so far",
            max_batch_sequences, "gauge");
    out +=
        "# HELP encore_batch_sequences sequences per batched evaluation\n"
        "# TYPE encore_batch_sequences histogram\n";
    batch_sequences.render(out, "encore_batch_sequences");
    out +=
        "# HELP encore_batch_tokens tokens per batched evaluation\n"
        "# TYPE encore_batch_tokens histogram\n";
    batch_tokens.render(out, "encore_batch_tokens");
    out +=
        "# HELP encore_request_latency_seconds time from request to response end\n"
        "# TYPE encore_request_latency_seconds histogram\n";
    request_latency_seconds.render(out, "encore_request_latency_seconds");
    out +=
        "# HELP encore_time_to_first_token_seconds time from submission to the first token\n"
        "# TYPE encore_time_to_first_token_seconds histogram\n";
    time_to_first_token_seconds.render(out, "encore_time_to_first_token_seconds");
    const auto kv_now = kv();
    const std::pair<const char*, int64_t KvSnapshot::*> kv_fields[] = {
        {"encore_kv_blocks", &KvSnapshot::blocks},
        {"encore_kv_blocks_referenced", &KvSnapshot::referenced},
        {"encore_kv_blocks_cached", &KvSnapshot::cached},
        {"encore_kv_blocks_available", &KvSnapshot::available},
        {"encore_kv_blocks_reserved", &KvSnapshot::reserved},
        {"encore_kv_block_size", &KvSnapshot::block_size}};
    for (const auto& [name, field] : kv_fields) {
        out += fmt::format("# TYPE {} gauge\n", name);
        for (const KvSnapshot& s : kv_now)
            out += fmt::format("{}{{model=\"{}\"}} {}\n", name, s.model, s.*field);
    }
    return out;
}

}  // namespace encore::server
