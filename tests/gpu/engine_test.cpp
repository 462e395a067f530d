// End to end on --device cuda (tests/gpu/run.sh runs this on a GPU; without one every test is
// skipped with a message):
//   - the transformers goldens: f32 checkpoints within 1e-4 of the logit scale with identical
//     greedy continuations (as on the CPU); f16 checkpoints within 3e-3 and bf16 within 3e-2 (the
//     GEMMs see activations rounded to the weights' 16-bit type, which the CPU backends do not
//     do: 2.2e-3 measured on the f16 variants, H100, 2026-12-06), greedy not compared for those; a
//     q8_0 GGUF within 1e-4 of the CPU backend on it;
//   - batch invariance: an item's logits alone and inside batches of 1 to 64 other items,
//     bitwise with deterministic on, within 1e-6 of the logit scale otherwise;
//   - stem reuse and a fork of a cached prefix on the GPU equal to computing everything, for each
//     KV storage type (f32, f16, bf16), also through a stem store whose states lie in device
//     memory; engines made in turn on one shared backend equal to fresh ones;
//   - f16 / bf16 KV pools: logits within 1e-3 (f16) and 8e-3 (bf16) of the logit scale of the CPU
//     backend with the same KV type (both store the same rounding of K and V, except where the
//     two backends' K/V, which differ by f32 summation order, round to neighbouring 16-bit
//     values: one unit of the type's last place, 2^-11 or 2^-8), and bitwise batch invariance
//     with deterministic on.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "../e2e/golden_support.h"
#include "../engine/scorer_like_run.h"
#include "core/error.h"
#include "engine/sampler.h"
#include "engine/sequence.h"
#include "engine/stem_store.h"
#include "model/gguf_model.h"
#include "model/random_model.h"

namespace encore {
namespace {

using testing::golden_logits;
using testing::golden_root;
using testing::golden_variants;
using testing::greedy;
using testing::ids_of;
using testing::read_golden;
using testing::relative_to_scale;

bool skip_without_gpu() {
    std::string why;
    if (cuda_available(&why)) return false;
    std::printf("no GPU: %s\n", why.c_str());
    return true;
}

EngineOptions cuda_options(bool deterministic = false, DType kv_type = DType::f32) {
    EngineOptions o;
    o.backend = "cuda";
    o.deterministic = deterministic;
    o.kv_type = kv_type;
    o.kv_budget_bytes = int64_t(256) << 20;
    return o;
}

class CudaGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaGolden, MatchesTransformersOnEveryPlan) {
    if (skip_without_gpu()) GTEST_SKIP() << "no GPU";
    const std::string dir = golden_root() + "/" + GetParam();
    const auto model = Model::load(testing::model_dir_for(GetParam()));
    const DType dtype = model->weights().layers[0].wq.dtype;
    const double tolerance = dtype == DType::bf16 ? 3e-2 : dtype == DType::f16 ? 3e-3 : 1e-4;
    const nlohmann::json golden = read_golden(dir);
    const std::vector<int32_t> tokens = ids_of(golden["tokens"]);
    const std::vector<int32_t> prompt = ids_of(golden["greedy_prompt"]);
    const bool brown = golden.contains("heldout_tokens");
    for (const auto& [plan_name, plan_json] : golden["plans"].items()) {
        SCOPED_TRACE(GetParam() + " plan " + plan_name + " " + std::string(dtype_name(dtype)));
        LayerPlan plan{plan_json["layers"].get<std::vector<int>>()};
        Engine engine(model, plan, cuda_options());
        Sequence seq(engine);
        seq.prefill(tokens, Logits::all);
        const double err = relative_to_scale(seq.logits(), golden_logits(dir, plan_name));
        std::printf("golden %s plan %s (%s): error %.3g of the logit scale (tolerance %.0e)\n",
                    GetParam().c_str(), plan_name.c_str(), std::string(dtype_name(dtype)).c_str(),
                    err, tolerance);
        EXPECT_LE(err, tolerance) << "logits differ from transformers";
        if (dtype == DType::f32) {
            const std::vector<int32_t> want = ids_of(plan_json["greedy"]);
            const std::vector<int64_t> stop =
                brown ? model->spec().eos_token_ids : std::vector<int64_t>{};
            EXPECT_EQ(greedy(engine, prompt, want.size(), stop), want);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Variants, CudaGolden, ::testing::ValuesIn(golden_variants(true)),
                         [](const auto& info) { return info.param; });

TEST(CudaGguf, Q8_0EqualsTheCpuBackendOnIt) {
    if (skip_without_gpu()) GTEST_SKIP() << "no GPU";
    const auto source = Model::load(testing::model_dir_for("llama_gqa_sharded"));
    const std::string tmp = ::testing::TempDir() + "/encore_cuda_q8.gguf";
    write_gguf_model(*source, tmp, DType::q8_0);
    const auto model = Model::load(tmp);
    std::filesystem::remove(tmp);
    const std::vector<int32_t> tokens =
        ids_of(read_golden(golden_root() + "/llama_gqa_sharded")["tokens"]);
    auto logits_on = [&](EngineOptions o) {
        Engine engine(model, LayerPlan::identity(int(model->spec().n_layers)), o);
        Sequence seq(engine);
        seq.prefill(tokens, Logits::all);
        return std::vector<float>(seq.logits().begin(), seq.logits().end());
    };
    EngineOptions cpu;
    cpu.backend = "scalar";
    const double err = relative_to_scale(logits_on(cuda_options()), logits_on(cpu));
    std::printf("q8_0 gguf: cuda vs scalar %.3g of the logit scale\n", err);
    EXPECT_LE(err, 1e-4);
}

// A small random Llama-shaped model: GQA, 4 layers.
std::shared_ptr<Model> random_model(DType dtype) {
    ModelSpec s;
    s.architecture = "llama";
    s.vocab_size = 512;
    s.n_embd = 256;
    s.n_ff = 512;
    s.n_layers = 4;
    s.n_heads = 8;
    s.n_kv_heads = 2;
    s.head_dim = 32;
    s.rope.theta = 10000;
    return make_random_model(s, dtype, 7);
}

// Logits of item 0 (a fork of a shared prefix plus its own tokens) alone and inside batches of
// 1..64 other items; returns the largest difference relative to the logit scale.
double batch_invariance(const std::shared_ptr<Model>& model, bool deterministic,
                        DType kv_type = DType::f32) {
    Engine engine(model, LayerPlan::identity(int(model->spec().n_layers)),
                  cuda_options(deterministic, kv_type));
    std::mt19937 rng(3);
    auto tokens = [&](int n) {
        std::vector<int32_t> t(static_cast<size_t>(n));
        for (auto& v : t) v = int32_t(rng() % 512);
        return t;
    };
    Sequence prefix(engine);
    prefix.prefill(tokens(150), Logits::none);
    const std::vector<int32_t> mine = tokens(37);
    auto run = [&](int n_others) {
        std::vector<std::unique_ptr<Sequence>> seqs;
        std::vector<std::vector<int32_t>> own;
        seqs.push_back(prefix.fork());
        own.push_back(mine);
        for (int i = 0; i < n_others; ++i) {
            if (i % 2)
                seqs.push_back(prefix.fork());
            else
                seqs.push_back(std::make_unique<Sequence>(engine));
            own.push_back(tokens(1 + int(rng() % 60)));
        }
        std::vector<EvalItem> items;
        for (size_t i = 0; i < seqs.size(); ++i)
            items.push_back({seqs[i].get(), own[i], Logits::last});
        // The item in the middle of the batch, not first.
        std::swap(items[0], items[items.size() / 2]);
        engine.eval(items);
        const auto l = seqs[0]->last_logits();
        return std::vector<float>(l.begin(), l.end());
    };
    const std::vector<float> alone = run(0);
    double worst = 0;
    for (int n_others : {1, 2, 3, 7, 15, 31, 64}) {
        const std::vector<float> in_batch = run(n_others);
        worst = std::max(worst, relative_to_scale(in_batch, alone));
        if (deterministic) {
            EXPECT_EQ(in_batch, alone) << "with " << n_others << " other items";
        }
    }
    return worst;
}

// A decode step: item 0 (a fork of a cached context) appends one token alone, then inside steps
// of 1..64 other forks appending one token each; the largest difference relative to the logit
// scale.
double decode_invariance(const std::shared_ptr<Model>& model, bool deterministic) {
    Engine engine(model, LayerPlan::identity(int(model->spec().n_layers)),
                  cuda_options(deterministic));
    std::vector<int32_t> context(96);
    for (size_t i = 0; i < context.size(); ++i) context[i] = int32_t(i * 5 % 512);
    Sequence prefix(engine);
    prefix.prefill(context, Logits::none);
    const std::vector<int32_t> mine = {17};
    auto step = [&](int n_others) {
        std::vector<std::unique_ptr<Sequence>> seqs;
        std::vector<std::vector<int32_t>> own;
        for (int i = 0; i <= n_others; ++i) {
            seqs.push_back(prefix.fork());
            own.push_back(i == 0 ? mine : std::vector<int32_t>{int32_t(i * 7 % 512)});
        }
        std::vector<EvalItem> items;
        for (size_t i = 0; i < seqs.size(); ++i)
            items.push_back({seqs[i].get(), own[i], Logits::last});
        engine.eval(items);
        const auto l = seqs[0]->last_logits();
        return std::vector<float>(l.begin(), l.end());
    };
    const std::vector<float> alone = step(0);
    double worst = 0;
    for (int n_others : {1, 7, 8, 15, 64}) {
        const std::vector<float> in_batch = step(n_others);
        worst = std::max(worst, relative_to_scale(in_batch, alone));
        if (deterministic) {
            EXPECT_EQ(in_batch, alone) << "decode with " << n_others << " other items";
        }
    }
    return worst;
}

TEST(CudaBatchInvariance, DecodeSteps) {
    if (skip_without_gpu()) GTEST_SKIP() << "no GPU";
    for (bool deterministic : {true, false}) {
        const double err = decode_invariance(random_model(DType::bf16), deterministic);
        std::printf("decode-step batch invariance, %s, bf16: %.3g of the logit scale\n",
                    deterministic ? "deterministic" : "default", err);
        EXPECT_LE(err, deterministic ? 0.0 : 1e-6);
    }
}

TEST(CudaBatchInvariance, BitwiseWhenDeterministic) {
    if (skip_without_gpu()) GTEST_SKIP() << "no GPU";
    for (DType dtype : {DType::bf16, DType::f32}) {
        const double err = batch_invariance(random_model(dtype), true);
        std::printf("batch invariance, deterministic, %s: %.3g\n",
                    std::string(dtype_name(dtype)).c_str(), err);
        EXPECT_EQ(err, 0.0);
    }
}

TEST(CudaBatchInvariance, WithinOneMillionthByDefault) {
    if (skip_without_gpu()) GTEST_SKIP() << "no GPU";
    for (DType dtype : {DType::bf16, DType::f32}) {
        const double err = batch_invariance(random_model(dtype), false);
        std::printf("batch invariance, default, %s: %.3g of the logit scale\n",
                    std::string(dtype_name(dtype)).c_str(), err);
        EXPECT_LE(err, 1e-6);
    }
}

TEST(CudaEngine, ForkOfACachedPrefixEqualsAFullRecompute) {
    if (skip_without_gpu()) GTEST_SKIP() << "no GPU";
    const auto model = random_model(DType::bf16);
    for (DType kv_type : {DType::f32, DType::f16, DType::bf16}) {
        SCOPED_TRACE(dtype_name(kv_type));
        Engine engine(model, LayerPlan::parse("0-3,1-2", 4), cuda_options(true, kv_type));
        std::vector<int32_t> prefix_tokens(100), item(20);
        for (size_t i = 0; i < prefix_tokens.size(); ++i) prefix_tokens[i] = int32_t(i * 7 % 512);
        for (size_t i = 0; i < item.size(); ++i) item[i] = int32_t(i * 13 % 512);
        Sequence prefix(engine);
        prefix.prefill(prefix_tokens, Logits::none);
        const auto fork = prefix.fork();
        fork->prefill(item, Logits::all);
        std::vector<int32_t> all = prefix_tokens;
        all.insert(all.end(), item.begin(), item.end());
        EngineOptions fresh = cuda_options(true, kv_type);
        fresh.prefix_cache = false;
        Engine other(model, LayerPlan::parse("0-3,1-2", 4), fresh);
        Sequence full(other);
        full.prefill(all, Logits::all);
        const auto a = fork->logits();
        const auto b = full.logits();
        const size_t row = size_t(model->spec().vocab_size);
        EXPECT_EQ(std::vector<float>(a.begin(), a.end()),
                  std::vector<float>(b.end() - int64_t(item.size() * row), b.end()));
    }
}

TEST(CudaEngine, StemReuseEqualsTheFullPass) {
    if (skip_without_gpu()) GTEST_SKIP() << "no GPU";
    const auto model = random_model(DType::bf16);
    std::vector<int32_t> tokens(40);
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t(i * 11 % 512);
    for (DType kv_type : {DType::f32, DType::f16, DType::bf16}) {
        SCOPED_TRACE(dtype_name(kv_type));
        Engine base(model, LayerPlan::identity(4), cuda_options(true, kv_type));
        StemState state;
        Sequence s0(base);
        base.eval_stem({&s0, tokens, Logits::all}, {nullptr, 0, &state});
        const LayerPlan rys = LayerPlan::parse("rys:1,3", 4);  // 0,1,2 then 1,2,3
        Engine e1(model, rys, cuda_options(true, kv_type));
        Sequence s1(e1);
        e1.eval_stem({&s1, tokens, Logits::all}, {&state, 3, nullptr});
        EngineOptions fresh = cuda_options(true, kv_type);
        fresh.prefix_cache = false;
        Engine e2(model, rys, fresh);
        Sequence s2(e2);
        s2.prefill(tokens, Logits::all);
        EXPECT_EQ(std::vector<float>(s1.logits().begin(), s1.logits().end()),
                  std::vector<float>(s2.logits().begin(), s2.logits().end()));
        // The state lies in the GPU's memory: an engine computing in host memory refuses it.
        EXPECT_EQ(state.memory_place, "cuda:0");
        EngineOptions cpu;
        cpu.kv_type = kv_type;
        Engine on_cpu(model, rys, cpu);
        Sequence s3(on_cpu);
        EXPECT_THROW(on_cpu.eval_stem({&s3, tokens, Logits::all}, {&state, 3, nullptr}), Error);
    }
}

// A StemStore on the GPU (engine/stem_store.h): states captured into device memory by the
// base's engine, read after that engine is gone by other plans' engines, which gather several
// items' states into one group of passes on the device (tests/engine/scorer_like_run.h: a
// prefix, forks of it in one batch, an item not in the store, passes of 24 tokens). Bitwise
// the logits of a fresh engine. An engine computing in host memory does not use the states (it
// computes everything, with the results of a fresh CPU engine).
TEST(CudaEngine, StemStoreOnTheDeviceEqualsTheFullPass) {
    if (skip_without_gpu()) GTEST_SKIP() << "no GPU";
    const auto model = random_model(DType::bf16);
    for (DType kv_type : {DType::f32, DType::bf16}) {
        SCOPED_TRACE(dtype_name(kv_type));
        EngineOptions opt = cuda_options(true, kv_type);
        opt.max_batch_tokens = 24;
        auto store = std::make_shared<StemStore>(int64_t(1) << 30);
        {
            Engine base(model, LayerPlan::identity(4), opt);
            base.set_stem_store(store, StemStoreUse::capture);
            testing::scorer_like_run(base, false);
        }
        EXPECT_EQ(store->size(), 8u);  // the prefix, 3 forks, the label fork, 3 decoding steps
        for (const char* spec : {"rys:1,3", "rys:0,4", "rys:3,4", "0-2,1-3"}) {
            const LayerPlan plan = LayerPlan::parse(spec, 4);
            Engine fresh(model, plan, opt), reuse(model, plan, opt);
            reuse.set_stem_store(store, StemStoreUse::reuse);
            const int64_t hits = store->stats().hits;
            const auto a = testing::scorer_like_run(fresh, true);
            const auto b = testing::scorer_like_run(reuse, true);
            EXPECT_EQ(store->stats().hits - hits, 8) << spec;
            ASSERT_EQ(a.logits.size(), b.logits.size());
            for (size_t k = 0; k < a.logits.size(); ++k)
                EXPECT_EQ(a.logits[k], b.logits[k]) << spec << " sequence " << k;
        }
        EngineOptions cpu;
        cpu.kv_type = kv_type;
        cpu.max_batch_tokens = 24;
        const LayerPlan plan = LayerPlan::parse("rys:1,3", 4);
        Engine fresh(model, plan, cpu), on_cpu(model, plan, cpu);
        on_cpu.set_stem_store(store, StemStoreUse::reuse);
        const auto a = testing::scorer_like_run(fresh, true);
        const auto b = testing::scorer_like_run(on_cpu, true);
        EXPECT_EQ(a.logits, b.logits);
    }
}

// A sweep's engines in turn on one backend (EngineOptions::shared_backend): each plan's engine
// made after the last one's memory is freed, so its scratch and pool may take the same addresses,
// where the backend must not take a previous pass's 16-bit side copy or skipped output for its
// own; and its first kernels follow its pool's clearing soon, which must come before them (it
// did not while memory was cleared on the legacy default stream). Bitwise a fresh engine's
// logits, under deterministic.
TEST(CudaEngine, EnginesInTurnOnASharedBackendEqualFreshOnes) {
    if (skip_without_gpu()) GTEST_SKIP() << "no GPU";
    const auto model = random_model(DType::bf16);
    EngineOptions opt = cuda_options(true, DType::bf16);
    ThreadPool threads(1);
    EngineOptions shared = opt;
    shared.shared_backend = make_backend(opt, threads);
    for (int round = 0; round < 2; ++round)
        for (const char* spec : {"", "rys:1,3", "rys:0,4", "0-2,1-3"}) {
            const LayerPlan plan = LayerPlan::parse(spec, 4);
            shared.max_batch_tokens = opt.max_batch_tokens = round == 0 ? 24 : 0;
            Engine fresh(model, plan, opt);
            const auto a = testing::scorer_like_run(fresh, true);
            Engine engine(model, plan, shared);
            ASSERT_EQ(&engine.backend(), shared.shared_backend.get());
            const auto b = testing::scorer_like_run(engine, true);
            ASSERT_EQ(a.logits.size(), b.logits.size());
            for (size_t k = 0; k < a.logits.size(); ++k)
                EXPECT_EQ(a.logits[k], b.logits[k]) << spec << " sequence " << k;
        }
}

TEST(CudaKvType, HalfTypesMatchTheCpuBackendOfTheSameType) {
    if (skip_without_gpu()) GTEST_SKIP() << "no GPU";
    const auto model = random_model(DType::f32);  // f32 weights: no activation rounding on the GPU
    std::vector<int32_t> tokens(300);
    for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t((i * 37 + 5) % 512);
    auto logits_on = [&](EngineOptions o) {
        o.max_batch_tokens = 64;  // several passes, each attending over the stored cache
        Engine engine(model, LayerPlan::parse("0-3,1-2", 4), o);
        Sequence seq(engine);
        seq.prefill(tokens, Logits::all);
        return std::vector<float>(seq.logits().begin(), seq.logits().end());
    };
    for (DType kv_type : {DType::f32, DType::f16, DType::bf16}) {
        EngineOptions cpu;
        cpu.kv_type = kv_type;
        const double err =
            relative_to_scale(logits_on(cuda_options(true, kv_type)), logits_on(cpu));
        const double tolerance = kv_type == DType::bf16  ? 8e-3
                                 : kv_type == DType::f16 ? 1e-3
                                                         : 1e-4;
        std::printf("kv %s: cuda vs cpu %.3g of the logit scale (tolerance %.0e)\n",
                    std::string(dtype_name(kv_type)).c_str(), err, tolerance);
        EXPECT_LE(err, tolerance);
    }
}

TEST(CudaKvType, BitwiseBatchInvarianceWhenDeterministic) {
    if (skip_without_gpu()) GTEST_SKIP() << "no GPU";
    for (DType kv_type : {DType::f16, DType::bf16}) {
        const double err = batch_invariance(random_model(DType::bf16), true, kv_type);
        std::printf("batch invariance, deterministic, kv %s: %.3g\n",
                    std::string(dtype_name(kv_type)).c_str(), err);
        EXPECT_EQ(err, 0.0);
    }
}

}  // namespace
}  // namespace encore
