// The continuous-batching loop (see scheduler.h).
#include "server/scheduler.h"

#include <algorithm>
#include <optional>
#include <random>

#include "core/error.h"
#include "engine/generate.h"
#include "engine/sequence.h"
#include "server/api_error.h"

namespace encore::server {

// A job admitted to the batch: its sequence, sampler and generation state.
struct Scheduler::Active {
    std::shared_ptr<Job> job;
    Engine* engine = nullptr;
    std::unique_ptr<Sequence> seq;
    std::optional<Sampler> sampler;
    std::optional<Generation> gen;
    int64_t reserved_blocks = 0;
    size_t fed = 0;  // prompt tokens in the sequence
    bool prompt_done = false;
    int32_t pending = -1;  // sampled token that the next step evaluates
    bool finished = false;
    std::vector<PositionLogprobs> prompt_logprobs;  // [prompt], when the job wants them
    // This step's item.
    bool step_is_prompt = false;
    size_t step_tokens = 0;
};

struct Scheduler::Task {
    std::function<void()> fn;
    std::exception_ptr error;
    bool done = false;
};

Scheduler::Scheduler(std::vector<Engine*> engines, std::vector<std::string> names,
                     SchedulerOptions options, Metrics& metrics)
    : engines_(std::move(engines)),
      names_(std::move(names)),
      options_(options),
      metrics_(metrics),
      logprob_cache_(options.logprob_cache_blocks),
      committed_blocks_(engines_.size(), 0) {
    publish_kv_snapshot();
    thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
    drain();
}

int64_t Scheduler::blocks_needed(const Job& job) const {
    const int64_t B = engines_[job.engine_index]->kv().block_size();
    const int64_t positions = int64_t(job.prompt.size()) + job.params.max_tokens;
    return (positions + B - 1) / B + 1;  // + a partial block copied on write
}

bool Scheduler::reserve(const Job& job, std::vector<int64_t>& committed) const {
    if (job.cancelled) return true;  // admitted only to be finished: no blocks
    const size_t e = job.engine_index;
    const int64_t need = blocks_needed(job);
    if (committed[e] + need > engines_[e]->kv().n_blocks()) return false;
    committed[e] += need;
    return true;
}

size_t Scheduler::admissible_now(const std::vector<std::shared_ptr<Job>>& incoming) const {
    if (!tasks_.empty()) return 0;  // a task runs first, alone
    std::vector<int64_t> committed = committed_blocks_;
    const size_t slots =
        n_active_ < size_t(options_.parallel) ? size_t(options_.parallel) - n_active_ : 0;
    size_t n = 0;
    auto takes = [&](const Job& job) {
        if (n == slots || !reserve(job, committed)) return false;
        ++n;
        return true;
    };
    for (const auto& job : waiting_)
        if (!takes(*job)) return n;
    for (const auto& job : incoming)
        if (!takes(*job)) return n;
    return n;
}

void Scheduler::submit(const std::vector<std::shared_ptr<Job>>& jobs) {
    std::lock_guard lock(mutex_);
    if (draining_) throw ApiError(503, "the server is shutting down", "", "shutting_down");
    for (const auto& job : jobs) {
        const int64_t pool = engines_[job->engine_index]->kv().n_blocks();
        if (blocks_needed(*job) > pool)
            throw ApiError(400,
                           fmt::format("the request needs {} KV blocks (prompt and max_tokens), "
                                       "more than the server's whole KV budget of {} blocks",
                                       blocks_needed(*job), pool),
                           "max_tokens", "kv_budget_exceeded");
    }
    const size_t waiting = waiting_.size() + tasks_.size() + jobs.size() - admissible_now(jobs);
    if (waiting > size_t(options_.max_queue))
        throw ApiError(429,
                       fmt::format("too many requests waiting ({} queued, --max-queue {})",
                                   waiting - jobs.size(), options_.max_queue),
                       "", "queue_full");
    for (const auto& job : jobs) waiting_.push_back(job);
    metrics_.queue_depth = int64_t(waiting_.size());
    wake_.notify_all();
}

void Scheduler::run_exclusive(const std::function<void()>& fn) {
    Task task;
    task.fn = fn;
    std::unique_lock lock(mutex_);
    if (draining_) throw ApiError(503, "the server is shutting down", "", "shutting_down");
    if (waiting_.size() + tasks_.size() + 1 - admissible_now({}) > size_t(options_.max_queue))
        throw ApiError(429, "too many requests waiting", "", "queue_full");
    tasks_.push_back(&task);
    wake_.notify_all();
    wake_.wait(lock, [&] { return task.done; });
    if (task.error) std::rethrow_exception(task.error);
}

void Scheduler::drain() {
    {
        std::lock_guard lock(mutex_);
        draining_ = true;
        stop_ = true;
        wake_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
}

size_t Scheduler::n_waiting() const {
    std::lock_guard lock(mutex_);
    return waiting_.size() + tasks_.size();
}

size_t Scheduler::n_active() const {
    std::lock_guard lock(mutex_);
    return n_active_;
}

void Scheduler::loop() {
    for (;;) {
        std::vector<std::shared_ptr<Job>> admitted;
        Task* task = nullptr;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] {
                return stop_ || !tasks_.empty() || !active_.empty() || !waiting_.empty();
            });
            if (stop_ && waiting_.empty() && active_.empty() && tasks_.empty()) return;
            if (!tasks_.empty() && active_.empty()) {  // a task runs with the engines to itself
                task = tasks_.front();
                tasks_.pop_front();
            }
            while (!task && tasks_.empty() && !waiting_.empty() &&
                   active_.size() + admitted.size() < size_t(options_.parallel)) {
                const auto& job = waiting_.front();
                if (!reserve(*job, committed_blocks_))
                    break;  // first come, first served: later jobs wait too
                admitted.push_back(job);
                waiting_.pop_front();
            }
            n_active_ += admitted.size();  // slots taken now (recounted after the step)
            metrics_.queue_depth = int64_t(waiting_.size());
        }
        if (task) {
            try {
                task->fn();
            } catch (...) {
                task->error = std::current_exception();
            }
            publish_kv_snapshot();
            std::lock_guard lock(mutex_);
            task->done = true;
            wake_.notify_all();
            continue;
        }
        for (auto& job : admitted) {
            auto a = std::make_unique<Active>();
            a->job = job;
            a->engine = engines_[job->engine_index];
            if (job->cancelled) {
                finish(*a, "cancelled");
                continue;
            }
            a->reserved_blocks = blocks_needed(*job);
            Active& ref = *a;
            active_.push_back(std::move(a));
            if (!admit(ref)) continue;
        }
        for (auto& a : active_)
            if (!a->finished && a->job->cancelled) {
                ++metrics_.cancelled_jobs;
                finish(*a, "cancelled");
            }
        for (size_t e = 0; e < engines_.size(); ++e) {
            std::vector<Active*> jobs;
            for (auto& a : active_)
                if (!a->finished && a->job->engine_index == e) jobs.push_back(a.get());
            if (!jobs.empty()) step_engine(e, jobs);
        }
        std::vector<int64_t> released(engines_.size(), 0);
        for (auto& a : active_)
            if (a->finished) released[a->job->engine_index] += a->reserved_blocks;
        std::erase_if(active_, [](const auto& a) { return a->finished; });
        metrics_.active_jobs = int64_t(active_.size());
        {
            std::lock_guard lock(mutex_);  // submit() reads both
            for (size_t e = 0; e < engines_.size(); ++e) committed_blocks_[e] -= released[e];
            n_active_ = active_.size();
        }
        publish_kv_snapshot();
    }
}

bool Scheduler::admit(Active& a) {
    Job& job = *a.job;
    Engine& engine = *a.engine;
    KvPool& kv = engine.kv();
    const size_t n = job.prompt.size();
    const size_t B = size_t(kv.block_size());
    const bool rows = job.params.prompt_logprobs;
    try {
        SamplerOptions sampling = job.params.sampling;
        a.sampler.emplace(sampling);
        GenerateOptions gen;
        gen.max_tokens = job.params.max_tokens;
        gen.stop_strings = job.params.stop;
        gen.stop_at_eos = job.params.stop_at_eos;
        a.gen.emplace(engine.model(), gen);
        a.seq = std::make_unique<Sequence>(engine);
        if (rows) a.prompt_logprobs.assign(n, PositionLogprobs{});
        // Leading full blocks in the prefix index (and, for echo, in the logprob cache). A job
        // that keeps only the last logits must compute at least its last token.
        const size_t max_blocks = rows ? n / B : (n - 1) / B;
        std::vector<int32_t> pins;
        uint64_t parent = 0;
        size_t m = 0;
        std::vector<PositionLogprobs> block_rows;
        for (; m < max_blocks; ++m) {
            const auto tokens = std::span(job.prompt).subspan(m * B, B);
            const uint64_t hash = KvPool::chain_hash(parent, engine.cache_salt(), tokens);
            if (rows && !logprob_cache_.find(hash, block_rows)) break;
            const int32_t block = kv.pin(hash, tokens);  // the prefill below counts the hit
            if (block < 0) break;
            pins.push_back(block);
            if (rows)
                std::copy(block_rows.begin(), block_rows.end(), a.prompt_logprobs.begin() + m * B);
            parent = hash;
        }
        try {
            if (m > 0) a.seq->prefill(std::span(job.prompt).subspan(0, m * B), Logits::none);
        } catch (...) {
            for (int32_t b : pins) kv.release(b);
            throw;
        }
        for (int32_t b : pins) kv.release(b);
        a.fed = m * B;
        if (rows && m > 0) {  // the last reused position's logits give the next token's
            a.seq->truncate(int64_t(m * B - 1));
            a.fed = m * B - 1;
            metrics_.prompt_logprob_hit_tokens += int64_t(m * B - 1);
        }
        metrics_.prompt_tokens += int64_t(n);
        metrics_.prefix_hit_tokens += int64_t(a.fed);
        metrics_.prefix_miss_tokens += int64_t(n - a.fed);
        ++(a.fed > 0 ? metrics_.prefix_hit_requests : metrics_.prefix_miss_requests);
        std::lock_guard lock(job.mutex);
        job.cached_tokens = int64_t(a.fed);
    } catch (const Error& e) {
        fail_job(a, e.kind() == ErrorKind::out_of_memory ? 503 : 400, e.what());
        return false;
    }
    return true;
}

void Scheduler::step_engine(size_t engine_index, std::vector<Active*>& jobs) {
    Engine& engine = *engines_[engine_index];
    std::vector<EvalItem> items;
    std::vector<Active*> owners;
    int64_t budget = options_.step_tokens;
    for (Active* a : jobs)  // decode steps first: one token each
        if (a->pending >= 0) {
            a->step_is_prompt = false;
            a->step_tokens = 1;
            items.push_back({a->seq.get(), std::span(&a->pending, 1), Logits::last});
            owners.push_back(a);
            --budget;
        }
    for (Active* a : jobs) {  // then prompt chunks while the step's token budget lasts
        if (a->prompt_done || a->pending >= 0 || budget <= 0) continue;
        const auto& prompt = a->job->prompt;
        const size_t take = std::min(size_t(budget), prompt.size() - a->fed);
        const bool last = a->fed + take == prompt.size();
        const Logits logits = a->job->params.prompt_logprobs ? Logits::all
                              : last                         ? Logits::last
                                                             : Logits::none;
        a->step_is_prompt = true;
        a->step_tokens = take;
        items.push_back({a->seq.get(), std::span(prompt).subspan(a->fed, take), logits});
        owners.push_back(a);
        budget -= int64_t(take);
    }
    if (items.empty()) return;
    try {
        engine.eval(items);
    } catch (const Error& e) {
        // eval changed nothing; the jobs of this batch cannot go on.
        for (Active* a : owners)
            fail_job(*a, e.kind() == ErrorKind::out_of_memory ? 503 : 500, e.what());
        return;
    }
    int64_t n_tokens = 0;
    for (const EvalItem& item : items) n_tokens += int64_t(item.tokens.size());
    ++metrics_.evals;
    metrics_.batch_sequences.observe(double(items.size()));
    metrics_.batch_tokens.observe(double(n_tokens));
    int64_t seen = metrics_.max_batch_sequences;
    while (int64_t(items.size()) > seen &&
           !metrics_.max_batch_sequences.compare_exchange_weak(seen, int64_t(items.size()))) {
    }
    for (Active* a : owners) {
        try {
            after_eval(*a);
        } catch (const Error& e) {
            fail_job(*a, 500, e.what());
        }
    }
}

void Scheduler::after_eval(Active& a) {
    Job& job = *a.job;
    if (!a.step_is_prompt) {
        a.pending = -1;
        sample_next(a, a.seq->last_logits());
        return;
    }
    const auto& prompt = job.prompt;
    const size_t n = prompt.size();
    if (job.params.prompt_logprobs)
        for (int64_t p : a.seq->logit_positions())
            if (size_t(p) + 1 < n)
                a.prompt_logprobs[size_t(p) + 1] = position_logprobs(
                    a.seq->logits_at(p), prompt[size_t(p) + 1], k_max_top_logprobs);
    a.fed += a.step_tokens;
    if (a.fed < n) return;
    a.prompt_done = true;
    if (job.params.prompt_logprobs) {
        // Keep the log-probabilities of every full block for later requests with this prefix.
        const size_t B = size_t(a.engine->kv().block_size());
        if (n > 0) a.prompt_logprobs[0] = {{prompt[0], 0.0}, {}};
        uint64_t parent = 0;
        for (size_t b = 0; b < n / B; ++b) {
            const auto tokens = std::span(prompt).subspan(b * B, B);
            const uint64_t hash = KvPool::chain_hash(parent, a.engine->cache_salt(), tokens);
            logprob_cache_.insert(
                hash, std::vector<PositionLogprobs>(a.prompt_logprobs.begin() + b * B,
                                                    a.prompt_logprobs.begin() + (b + 1) * B));
            parent = hash;
        }
    }
    {
        std::lock_guard lock(job.mutex);
        job.prompt_done = true;
        if (job.params.prompt_logprobs) job.prompt_logprobs = a.prompt_logprobs;
    }
    job.changed.notify_all();
    if (a.gen->done()) {  // max_tokens 0: the prompt only
        finish(a, "length");
        return;
    }
    sample_next(a, a.seq->last_logits());
}

void Scheduler::sample_next(Active& a, std::span<const float> logits) {
    Job& job = *a.job;
    const int32_t token = a.sampler->sample(logits);
    std::optional<PositionLogprobs> lp;
    if (job.params.logprobs >= 0) lp = position_logprobs(logits, token, job.params.logprobs);
    std::string piece = a.gen->push(token);
    const bool done = a.gen->done();
    if (done) piece += a.gen->flush();
    ++metrics_.generated_tokens;
    {
        std::lock_guard lock(job.mutex);
        if (job.tokens.empty()) {
            job.first_token = Job::Clock::now();
            metrics_.time_to_first_token_seconds.observe(
                std::chrono::duration<double>(job.first_token - job.submitted).count());
        }
        job.tokens.push_back(token);
        if (lp) job.token_logprobs.push_back(std::move(*lp));
        if (!piece.empty()) job.pieces.push_back(std::move(piece));
    }
    if (done) {
        finish(a, a.gen->stopped() ? "stop" : "length");
        return;
    }
    job.changed.notify_all();
    a.pending = token;
}

void Scheduler::finish(Active& a, const std::string& reason) {
    if (a.seq) a.seq->free();
    a.finished = true;
    {
        std::lock_guard lock(a.job->mutex);
        a.job->finished = true;
        a.job->finish_reason = reason;
    }
    a.job->changed.notify_all();
}

void Scheduler::fail_job(Active& a, int status, const std::string& message) {
    {
        std::lock_guard lock(a.job->mutex);
        a.job->error = message;
        a.job->error_status = status;
    }
    finish(a, "error");
}

void Scheduler::publish_kv_snapshot() {
    std::vector<KvSnapshot> snap;
    for (size_t e = 0; e < engines_.size(); ++e) {
        const KvPool& kv = engines_[e]->kv();
        snap.push_back({names_[e], kv.n_blocks(), kv.n_referenced(), kv.n_cached(),
                        kv.n_available(), committed_blocks_[e], kv.block_size()});
    }
    metrics_.set_kv(std::move(snap));
}

}  // namespace encore::server
