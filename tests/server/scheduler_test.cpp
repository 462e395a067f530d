// The server's scheduler on the bundled model: batched jobs give what one sequence alone gives
// (generate() and Logits::all prefill), echo log-probabilities come back bitwise equal from the
// prefix cache, a small KV budget makes jobs wait (never truncated), a full queue refuses with
// 429, a job that can never fit with 400, and cancelled jobs release their blocks.
#include <gtest/gtest.h>

#include <thread>

#include "engine/generate.h"
#include "engine/sequence.h"
#include "server/api_error.h"
#include "server/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace encore::server {
namespace {

std::shared_ptr<Model> bundled() {
    static std::shared_ptr<Model> m = Model::load(ENCORE_SOURCE_DIR "/assets/brown-llama-12l");
    return m;
}

std::unique_ptr<Engine> make_engine(int64_t kv_budget = 0) {
    EngineOptions o;
    o.n_threads = 2;
    o.kv_budget_bytes = kv_budget;
    return std::make_unique<Engine>(bundled(), LayerPlan::identity(int(bundled()->spec().n_layers)),
                                    o);
}

std::shared_ptr<Job> greedy_job(const std::string& text, int64_t max_tokens) {
    auto job = std::make_shared<Job>();
    job->prompt = bundled()->tokenizer().encode(text, true);
    job->params.max_tokens = max_tokens;
    job->params.sampling.temperature = 0;
    job->params.stop_at_eos = false;
    return job;
}

void wait(const std::shared_ptr<Job>& job) {
    std::unique_lock lock(job->mutex);
    job->changed.wait(lock, [&] { return job->finished; });
}

TEST(Scheduler, ConcurrentJobsEqualGenerateAlone) {
    auto engine = make_engine();
    Metrics metrics;
    Scheduler scheduler({engine.get()}, {"m"}, {}, metrics);
    const std::vector<std::string> prompts = {"The city", "In the morning the", "He said",
                                              "A long time ago in a small town there was",
                                              "Prices"};
    std::vector<std::shared_ptr<Job>> jobs;
    for (const auto& p : prompts) jobs.push_back(greedy_job(p, 20));
    scheduler.submit(jobs);
    for (auto& j : jobs) wait(j);
    EXPECT_GT(metrics.max_batch_sequences.load(), 1);
    for (size_t i = 0; i < prompts.size(); ++i) {
        Sequence seq(*engine);
        seq.prefill(jobs[i]->prompt, Logits::last);
        Sampler sampler({.temperature = 0});
        GenerateOptions g;
        g.max_tokens = 20;
        g.stop_at_eos = false;
        const GenerateResult r = generate(seq, sampler, g);
        EXPECT_EQ(jobs[i]->tokens, r.tokens) << prompts[i];
        std::string text;
        for (const auto& piece : jobs[i]->pieces) text += piece;
        EXPECT_EQ(text, r.text);
        EXPECT_EQ(jobs[i]->finish_reason, "length");
    }
    EXPECT_EQ(engine->kv().n_referenced(), 0);
}

TEST(Scheduler, EchoLogprobsFromThePrefixCacheAreBitwiseEqual) {
    auto engine = make_engine();
    Metrics metrics;
    Scheduler scheduler({engine.get()}, {"m"}, {}, metrics);
    auto make = [] {
        auto job = greedy_job(
            "It was a bright cold day in April, and the clocks were striking "
            "thirteen. Winston Smith, his chin nuzzled into his breast",
            0);
        job->params.prompt_logprobs = true;
        return job;
    };
    auto first = make();
    const size_t n = first->prompt.size();
    ASSERT_GT(n, 33u);
    scheduler.submit({first});
    wait(first);
    ASSERT_FALSE(first->error);
    EXPECT_EQ(first->cached_tokens, 0);
    // The reference: one sequence, every logit kept.
    Sequence seq(*engine);
    seq.prefill(first->prompt, Logits::all);
    for (size_t p = 1; p < n; ++p) {
        const PositionLogprobs want =
            position_logprobs(seq.logits_at(int64_t(p - 1)), first->prompt[p], k_max_top_logprobs);
        EXPECT_EQ(first->prompt_logprobs[p].chosen.logprob, want.chosen.logprob) << p;
        ASSERT_EQ(first->prompt_logprobs[p].top.size(), want.top.size());
        for (size_t k = 0; k < want.top.size(); ++k) {
            EXPECT_EQ(first->prompt_logprobs[p].top[k].id, want.top[k].id);
            EXPECT_EQ(first->prompt_logprobs[p].top[k].logprob, want.top[k].logprob);
        }
    }
    seq.free();
    auto second = make();
    scheduler.submit({second});
    wait(second);
    const int64_t B = engine->kv().block_size();
    EXPECT_EQ(second->cached_tokens, int64_t(n) / B * B - 1);
    for (size_t p = 1; p < n; ++p) {
        EXPECT_EQ(second->prompt_logprobs[p].chosen.logprob,
                  first->prompt_logprobs[p].chosen.logprob);
        EXPECT_EQ(second->prompt_logprobs[p].top.size(), first->prompt_logprobs[p].top.size());
    }
    EXPECT_GT(metrics.prompt_logprob_hit_tokens.load(), 0);
}

TEST(Scheduler, SmallKvBudgetMakesJobsWaitNeverTruncates) {
    // Room for about two jobs of 16 + 60 positions at a time.
    auto probe = make_engine();
    const int64_t block_bytes = probe->kv().bytes_per_block();
    probe.reset();
    auto engine = make_engine(block_bytes * 12);
    Metrics metrics;
    SchedulerOptions so;
    so.max_queue = 6;
    Scheduler scheduler({engine.get()}, {"m"}, so, metrics);
    std::vector<std::shared_ptr<Job>> jobs;
    for (int i = 0; i < 6; ++i) jobs.push_back(greedy_job("Number " + std::to_string(i), 60));
    scheduler.submit(jobs);
    // The queue is full now (some jobs may already be admitted, so submit more than remain).
    std::vector<std::shared_ptr<Job>> more;
    for (int i = 0; i < 7; ++i) more.push_back(greedy_job("More", 4));
    try {
        scheduler.submit(more);
        FAIL() << "a full queue accepted more jobs";
    } catch (const ApiError& e) {
        EXPECT_EQ(e.status(), 429);
    }
    // A job that no empty pool could hold.
    try {
        scheduler.submit({greedy_job("Too long", 900)});
        FAIL() << "a job larger than the pool was accepted";
    } catch (const ApiError& e) {
        EXPECT_EQ(e.status(), 400);
    }
    for (auto& j : jobs) {
        wait(j);
        EXPECT_FALSE(j->error);
        EXPECT_EQ(j->tokens.size(), 60u);
    }
    EXPECT_EQ(engine->kv().n_referenced(), 0);
}

TEST(Scheduler, CancelledJobsReleaseTheirBlocks) {
    auto engine = make_engine();
    Metrics metrics;
    Scheduler scheduler({engine.get()}, {"m"}, {}, metrics);
    auto job = greedy_job("Once upon a time", 800);
    scheduler.submit({job});
    job->wait_for_progress(0, false, std::chrono::milliseconds(5000));
    job->cancelled = true;
    wait(job);
    EXPECT_EQ(job->finish_reason, "cancelled");
    EXPECT_LT(job->tokens.size(), 800u);
    for (int i = 0; i < 100 && scheduler.n_active() > 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    scheduler.drain();
    EXPECT_EQ(engine->kv().n_referenced(), 0);
    EXPECT_EQ(metrics.cancelled_jobs.load(), 1);
}

}  // namespace
}  // namespace encore::server
