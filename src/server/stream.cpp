// Job deltas, waiting and server-sent events (see stream.h).
#include "server/stream.h"

#include <chrono>

#include "server/api_error.h"
#include "server/context.h"

namespace encore::server {

JobDelta take_delta(Job& job, JobCursor& cursor) {
    JobDelta d;
    std::lock_guard lock(job.mutex);
    if (job.prompt_done && !cursor.prompt) {
        d.prompt_now = true;
        cursor.prompt = true;
    }
    d.first_token = cursor.tokens;
    if (job.tokens.size() > cursor.tokens) {
        d.tokens.assign(job.tokens.begin() + int64_t(cursor.tokens), job.tokens.end());
        if (job.token_logprobs.size() >= job.tokens.size())
            d.logprobs.assign(job.token_logprobs.begin() + int64_t(cursor.tokens),
                              job.token_logprobs.begin() + int64_t(job.tokens.size()));
        cursor.tokens = job.tokens.size();
    }
    for (; cursor.pieces < job.pieces.size(); ++cursor.pieces) d.text += job.pieces[cursor.pieces];
    if (job.finished && !cursor.finished) {
        d.finished_now = true;
        cursor.finished = true;
        d.finish_reason = job.finish_reason;
        d.error = job.error;
        d.error_status = job.error_status;
    }
    return d;
}

void throw_job_error(const std::vector<std::shared_ptr<Job>>& jobs) {
    for (const auto& job : jobs) {
        std::lock_guard lock(job->mutex);
        if (job->error) throw ApiError(job->error_status, *job->error);
    }
}

void wait_all(const std::vector<std::shared_ptr<Job>>& jobs) {
    for (const auto& job : jobs) {
        std::unique_lock lock(job->mutex);
        job->changed.wait(lock, [&] { return job->finished; });
    }
    throw_job_error(jobs);
}

namespace {

struct StreamState {
    ServerContext* ctx = nullptr;
    std::vector<std::shared_ptr<Job>> jobs;
    std::vector<JobCursor> cursors;
    std::string endpoint;
    std::function<std::vector<nlohmann::json>(size_t, const JobDelta&)> chunks;
    std::function<std::vector<nlohmann::json>()> final_chunks;
    Job::Clock::time_point started = Job::Clock::now();
    Job::Clock::time_point last_write = Job::Clock::now();
    bool done = false;
    bool failed = false;
};

std::string event(const nlohmann::json& j) {
    return "data: " + dump_json(j) + "\n\n";
}

}  // namespace

void stream_jobs(ServerContext& ctx, httplib::Response& res, std::vector<std::shared_ptr<Job>> jobs,
                 std::string endpoint,
                 std::function<std::vector<nlohmann::json>(size_t, const JobDelta&)> chunks,
                 std::function<std::vector<nlohmann::json>()> final_chunks) {
    auto s = std::make_shared<StreamState>();
    s->ctx = &ctx;
    s->jobs = std::move(jobs);
    s->cursors.resize(s->jobs.size());
    s->endpoint = std::move(endpoint);
    s->chunks = std::move(chunks);
    s->final_chunks = std::move(final_chunks);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [s](size_t, httplib::DataSink& sink) {
            // Wait for the first unfinished job to move (or a short while), then write what
            // every job has produced.
            for (size_t i = 0; i < s->jobs.size(); ++i)
                if (!s->cursors[i].finished) {
                    s->jobs[i]->wait_for_progress(s->cursors[i].tokens, s->cursors[i].prompt,
                                                  std::chrono::milliseconds(100));
                    break;
                }
            std::string out;
            bool all_finished = true;
            for (size_t i = 0; i < s->jobs.size(); ++i) {
                const JobDelta d = take_delta(*s->jobs[i], s->cursors[i]);
                if (d.error) {
                    out += event(error_envelope(*d.error, ApiError::default_type(d.error_status)));
                    s->failed = true;
                } else if (!d.empty()) {
                    for (const auto& c : s->chunks(i, d)) out += event(c);
                }
                all_finished = all_finished && s->cursors[i].finished;
            }
            if (all_finished) {
                if (!s->failed)
                    for (const auto& c : s->final_chunks()) out += event(c);
                out += "data: [DONE]\n\n";
            } else if (out.empty() && Job::Clock::now() - s->last_write > std::chrono::seconds(1)) {
                out = ": waiting\n\n";  // an SSE comment: finds out whether the client is gone
            }
            if (!out.empty()) {
                if (!sink.write(out.data(), out.size())) return false;
                s->last_write = Job::Clock::now();
            }
            if (all_finished) {
                s->done = true;
                sink.done();
            }
            return true;
        },
        [s](bool success) {
            for (const auto& job : s->jobs) job->cancelled = true;  // no-op for finished jobs
            const double seconds =
                std::chrono::duration<double>(Job::Clock::now() - s->started).count();
            s->ctx->metrics.request_latency_seconds.observe(seconds);
            s->ctx->metrics.count_request(s->endpoint, s->done && !s->failed ? 200 : 499);
        });
}

}  // namespace encore::server
