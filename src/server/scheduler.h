// Scheduler: continuous batching. One thread owns every Engine of the server (one per layer
// plan, all sharing the model's weights) and loops: admit waiting jobs while their KV need fits
// the pool, then run one Engine::eval per engine over the tokens of all active jobs (chunks of new
// prompts and the decode step of every running generation together), then sample each job's next
// token and publish its progress. Results are those of serving each job alone (the engine's batch
// invariance).
//
// Admission reserves a job's worst case (prompt + max_tokens positions, plus a copied block) in
// KV blocks, so a running job never runs out of blocks: when the budget is taken, jobs wait in a
// FIFO queue; past max_queue waiting jobs, submit() refuses with 429. Queued jobs that the loop's
// next admission takes (a free slot and their blocks free, in FIFO order) do not count as
// waiting, so whether a burst is refused does not depend on how soon the loop thread wakes. A
// job that could not fit an empty pool is refused at once (400).
//
// Prefix cache: at admission the prompt's leading full blocks are looked up in the pool's prefix
// index and reused. A job that wants prompt log-probabilities (echo) reuses the blocks whose
// log-probabilities are also in the PromptLogprobCache, recomputes only the last reused position
// (its logits give the first new token's log-probability) and publishes what it computed.
//
// Exclusive tasks (scoring) run on the scheduler thread between steps, with an engine to
// themselves.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "server/job.h"
#include "server/logprobs.h"
#include "server/metrics.h"

namespace encore::server {

struct SchedulerOptions {
    int parallel = 32;          // jobs generating at once (all engines together)
    int max_queue = 256;        // jobs waiting for admission before 429
    int64_t step_tokens = 512;  // tokens evaluated per engine per step (prompt chunks included)
    size_t logprob_cache_blocks = 65536;
};

class Scheduler {
  public:
    // `names`: the model id of each engine (for metrics).
    Scheduler(std::vector<Engine*> engines, std::vector<std::string> names,
              SchedulerOptions options, Metrics& metrics);
    ~Scheduler();

    // Queues jobs (all or none). ApiError 429 when the queue is full, 400 when a job can never
    // fit the KV pool, 503 while draining.
    void submit(const std::vector<std::shared_ptr<Job>>& jobs);
    // Runs `task` on the scheduler thread between steps; blocks until it has run and rethrows
    // what it threw. Counts as one waiting job for max_queue.
    void run_exclusive(const std::function<void()>& task);
    // Stops admitting new work, finishes what is queued and running, then stops the thread.
    void drain();
    // Waiting and active jobs right now.
    size_t n_waiting() const;
    size_t n_active() const;

  private:
    struct Active;
    struct Task;
    void loop();
    bool admit(Active& a);
    void step_engine(size_t engine_index, std::vector<Active*>& jobs);
    void after_eval(Active& a);
    void sample_next(Active& a, std::span<const float> logits);
    void finish(Active& a, const std::string& reason);
    void fail_job(Active& a, int status, const std::string& message);
    void publish_kv_snapshot();
    int64_t blocks_needed(const Job& job) const;
    // The admission rule for one job: reserves its KV blocks in `committed` (per engine) if they
    // fit; false if not. A cancelled job takes none.
    bool reserve(const Job& job, std::vector<int64_t>& committed) const;
    // With mutex_ held: how many of the queued jobs, then of `incoming`, the loop's next
    // admission takes (its rule: FIFO, free slots, KV blocks not committed).
    size_t admissible_now(const std::vector<std::shared_ptr<Job>>& incoming) const;

    std::vector<Engine*> engines_;
    std::vector<std::string> names_;
    SchedulerOptions options_;
    Metrics& metrics_;
    PromptLogprobCache logprob_cache_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::shared_ptr<Job>> waiting_;
    std::deque<Task*> tasks_;
    bool draining_ = false;
    bool stop_ = false;
    size_t n_active_ = 0;  // mirrors active_.size() for readers off the thread

    // Owned by the scheduler thread.
    std::vector<std::unique_ptr<Active>> active_;
    std::vector<int64_t> committed_blocks_;  // per engine: worst-case blocks of active jobs
    std::thread thread_;
};

}  // namespace encore::server
