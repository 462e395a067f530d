// Following jobs from an HTTP handler: what changed in a job since it was last looked at
// (JobDelta), waiting for all jobs of a request, and serving a request's jobs as server-sent
// events (`data: {json}` per chunk, `data: [DONE]` at the end). A client that goes away
// mid-stream cancels the request's jobs, which releases their KV blocks.
#pragma once

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/job.h"

namespace encore::server {

struct ServerContext;

struct JobCursor {
    size_t tokens = 0, pieces = 0;
    bool prompt = false, finished = false;
};

struct JobDelta {
    bool prompt_now = false;  // the prompt has just been evaluated
    size_t first_token = 0;   // index of tokens[0] among the job's generated tokens
    std::vector<int32_t> tokens;
    std::vector<PositionLogprobs> logprobs;
    std::string text;
    bool finished_now = false;
    std::string finish_reason;
    std::optional<std::string> error;
    int error_status = 500;
    bool empty() const { return !prompt_now && tokens.empty() && text.empty() && !finished_now; }
};

JobDelta take_delta(Job& job, JobCursor& cursor);

// Blocks until every job has finished. The first failed job's error is thrown as ApiError.
void wait_all(const std::vector<std::shared_ptr<Job>>& jobs);
// Throws the first failed job's error as an ApiError.
void throw_job_error(const std::vector<std::shared_ptr<Job>>& jobs);

// Serves `jobs` as server-sent events. `chunks(job_index, delta)` turns each delta into zero or
// more JSON chunks; `final_chunks()` gives the chunks after all jobs finished (usage). Records
// the request in the metrics when the stream ends.
void stream_jobs(ServerContext& ctx, httplib::Response& res, std::vector<std::shared_ptr<Job>> jobs,
                 std::string endpoint,
                 std::function<std::vector<nlohmann::json>(size_t, const JobDelta&)> chunks,
                 std::function<std::vector<nlohmann::json>()> final_chunks);

}  // namespace encore::server
