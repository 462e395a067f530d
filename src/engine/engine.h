// Engine: a model, a layer plan, a backend and the paged KV pool, with the one entry point that
// evaluates tokens: `eval`, a batch of work items from many sequences in one forward pass.
// Single-sequence calls (Sequence::prefill and friends, see sequence.h) are batches of one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "core/thread_pool.h"
#include "engine/stem.h"
#include "engine/stem_store.h"
#include "kv/kv_pool.h"
#include "model/forward.h"
#include "model/layer_plan.h"
#include "model/model.h"

namespace encore {

class Sequence;

struct EngineOptions {
    // "cpu" (SIMD, multithreaded), "scalar" (the reference) or "cuda" (a GPU; see backend.h)
    std::string backend = "cpu";
    // Matmuls with bf16 weights on the cpu backend (see backend.h): fast rounds activations to
    // one bf16. The scalar reference computes exact f32 either way.
    Precision precision = Precision::standard;
    // Results independent of batch composition bit for bit on every backend (the CPU backends
    // always are; the CUDA backend then fixes its GEMM algorithms, at a speed cost).
    bool deterministic = false;
    int device = 0;     // which GPU, for backend "cuda"
    int n_threads = 0;  // 0 = all hardware threads
    // A pool shared with other engines of the process (n_threads is then ignored): engines used
    // in turn then do not compete with each other's idle workers, which spin briefly after a job.
    std::shared_ptr<ThreadPool> thread_pool;
    // A backend shared with other engines of the process, used in turn (made by make_backend
    // from options naming the same backend, device, precision and determinism): its stream, GEMM
    // handles and chosen algorithms, and its staging memory are then made once, not per engine.
    std::shared_ptr<Backend> shared_backend;
    // 0 = room for 8192 positions, or max_position if larger, at most half the machine's memory
    int64_t kv_budget_bytes = 0;
    // Storage type of the KV pool (see backend.h): f32 (the CPU's bitwise contract), f16 or bf16
    // (half the bytes per position; K and V rounded when stored). Unset: default_kv_type().
    std::optional<DType> kv_type;
    int block_size = KvPool::k_default_block_size;
    // A larger eval is split into forward passes of this many tokens; 0: the backend's default
    // (Backend::default_pass_tokens: 512 on the CPU; on a GPU 16384, or 4096 below 70 GiB).
    int64_t max_batch_tokens = 0;
    bool prefix_cache = true;  // publish full blocks and reuse them across sequences
};

// The KV storage type an engine takes when its options name none: f32 on the CPU backends (their
// bitwise contract); on a GPU the weights' type when it is bf16 or f16, as FlashAttention and
// vLLM keep K/V in the model's dtype (half the bytes that decode reads, and attention on the
// tensor cores), f32 for f32 and quantized weights.
DType default_kv_type(const std::string& backend, const Model& model);

// The backend EngineOptions name (backend, device, precision, deterministic), computing on
// `threads` where it is a CPU backend (which must then outlive it).
std::shared_ptr<Backend> make_backend(const EngineOptions& options, ThreadPool& threads);

// Which logits a prefill keeps.
enum class Logits { none, last, all };

// How an engine uses a StemStore (see stem_store.h).
enum class StemStoreUse {
    capture,  // record the state of every item computed
    reuse,    // start every item found in the store after the instances its plan shares
};

// One sequence's part of a batch: append `tokens` to `seq` and keep the chosen logits.
struct EvalItem {
    Sequence* seq = nullptr;
    std::span<const int32_t> tokens;
    Logits logits = Logits::last;
};

class Engine {
  public:
    Engine(std::shared_ptr<const Model> model, LayerPlan plan, EngineOptions options = {});
    ~Engine();

    const Model& model() const { return *model_; }
    const ModelSpec& spec() const { return model_->spec(); }
    const LayerPlan& plan() const { return plan_; }
    Precision precision() const { return options_.precision; }
    DType kv_type() const { return *options_.kv_type; }
    // Tokens per forward pass (EngineOptions::max_batch_tokens, the backend's default resolved).
    int64_t pass_tokens() const { return options_.max_batch_tokens; }
    KvPool& kv() { return *kv_; }
    const KvPool& kv() const { return *kv_; }
    Backend& backend() { return *backend_; }
    ThreadPool& threads() { return *threads_; }
    // Salt of this engine's prefix hashes: the model's identity and the layer plan.
    uint64_t cache_salt() const { return cache_salt_; }
    int64_t vocab_size() const { return model_->spec().vocab_size; }

    // Evaluates all items in one batch. Either every item is applied, or (on error: a token out
    // of range, the KV pool exhausted, a sequence too long) none is and every sequence and the
    // pool are exactly as before.
    void eval(std::span<EvalItem> items);
    // One item evaluated with stem reuse (see stem.h): starts at instance run.start from
    // run.from (same model, same first run.start layers, same tokens and start position, else
    // invalid_argument) and/or captures the state of every instance into run.capture. The
    // prefix cache is not consulted for this call (its blocks are published as usual).
    void eval_stem(EvalItem item, const StemRun& run);
    // Attaches a stem store (null detaches it) for every later eval (see stem_store.h). Which
    // tokens are computed does not change (the prefix cache is consulted as usual); with `reuse`
    // an item found in the store starts at the instances its state's plan shares with this
    // engine's, the items of a batch grouped by start instance into separate forward passes.
    // Results are bitwise those without a store on a backend whose kernels do not depend on the
    // batch (the CPU backends; CUDA with `deterministic`). eval_stem ignores the store.
    void set_stem_store(std::shared_ptr<StemStore> store, StemStoreUse use);
    const StemStore* stem_store() const { return stem_store_.get(); }

  private:
    void eval_impl(std::span<EvalItem> items, const StemRun* stem);
    friend struct PrefixFile;  // a loaded prefix publishes its blocks like computed ones
    // Appends published blocks matching the start of `tokens` to `seq` (only tokens whose logits
    // are not wanted); returns the tokens left to compute.
    std::span<const int32_t> reuse_prefix(Sequence& seq, std::span<const int32_t> tokens,
                                          Logits logits);
    // Hashes (and publishes) the sequence's full blocks that have no hash yet.
    void publish_full_blocks(Sequence& seq);

    std::shared_ptr<const Model> model_;
    LayerPlan plan_;
    EngineOptions options_;
    std::shared_ptr<ThreadPool> threads_;
    std::shared_ptr<Backend> backend_;
    std::unique_ptr<KvPool> kv_;
    ForwardScratch scratch_;
    BackendBuffer<float> stem_gather_;  // the stems of a group of several items (eval_impl)
    uint64_t cache_salt_ = 0;
    std::shared_ptr<StemStore> stem_store_;
    StemStoreUse stem_store_use_ = StemStoreUse::reuse;
};

}  // namespace encore
