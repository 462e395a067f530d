// Job: one prompt and the generation of one choice, as the HTTP front hands it to the scheduler
// and watches it progress. The scheduler writes its progress under the job's mutex and notifies
// `changed`; a handler reads it (streaming: as it grows) and may cancel the job at any time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "server/logprobs.h"

namespace encore::server {

struct JobParams {
    int64_t max_tokens = 16;
    SamplerOptions sampling;
    std::vector<std::string> stop;
    bool stop_at_eos = true;
    int logprobs = -1;             // alternatives per generated token; -1: no logprobs at all
    bool prompt_logprobs = false;  // the log-probability of every prompt token (echo)
    int prompt_top = 0;            // alternatives per prompt token
};

struct Job {
    using Clock = std::chrono::steady_clock;

    // Set by the creator before submitting.
    size_t engine_index = 0;
    std::vector<int32_t> prompt;
    JobParams params;

    std::atomic<bool> cancelled{false};

    // Progress, written by the scheduler under `mutex`.
    std::mutex mutex;
    std::condition_variable changed;
    bool prompt_done = false;
    int64_t cached_tokens = 0;                      // prompt tokens whose KV came from the cache
    std::vector<PositionLogprobs> prompt_logprobs;  // [prompt.size()], entry 0 unused
    std::vector<int32_t> tokens;                    // generated ids
    std::vector<PositionLogprobs> token_logprobs;   // one per generated id when logprobs >= 0
    std::vector<std::string> pieces;                // text ready to stream, in order
    bool finished = false;
    std::string finish_reason;         // "stop", "length" or "cancelled"
    std::optional<std::string> error;  // set when the job failed inside the scheduler
    int error_status = 500;

    Clock::time_point submitted = Clock::now();
    Clock::time_point first_token{};

    // Blocks until the job changed since `seen_pieces`/`seen_tokens` or finished, or `timeout`.
    void wait_for_progress(size_t seen_tokens, bool seen_prompt,
                           std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex);
        changed.wait_for(lock, timeout, [&] {
            return finished || tokens.size() > seen_tokens || prompt_done != seen_prompt;
        });
    }
};

}  // namespace encore::server
