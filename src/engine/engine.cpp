// Engine construction and batched evaluation (see engine.h).
#include "engine/engine.h"

#include <algorithm>
#include <array>
#include <unordered_set>

#include "core/error.h"
#include "engine/sequence.h"

namespace encore {

Engine::Engine(std::shared_ptr<const Model> model, LayerPlan plan, EngineOptions options)
    : model_(std::move(model)), plan_(std::move(plan)), options_(options) {
    const ModelSpec& spec = model_->spec();
    for (int l : plan_.layers)
        if (l < 0 || l >= spec.n_layers)
            fail(ErrorKind::invalid_argument, "layer plan uses layer {}, the model has 0-{}", l,
                 spec.n_layers - 1);
    if (plan_.layers.empty()) fail(ErrorKind::invalid_argument, "layer plan is empty");
    threads_ = options_.thread_pool ? options_.thread_pool
                                    : std::make_shared<ThreadPool>(options_.n_threads);
    backend_ =
        options_.shared_backend ? options_.shared_backend : make_backend(options_, *threads_);
    if (backend_->name() != options_.backend)
        fail(ErrorKind::invalid_argument, "shared backend is '{}', the engine's options name '{}'",
             backend_->name(), options_.backend);
    if (!options_.kv_type) options_.kv_type = default_kv_type(options_.backend, *model_);
    if (options_.max_batch_tokens < 0)
        fail(ErrorKind::invalid_argument, "tokens per forward pass must be positive, not {}",
             options_.max_batch_tokens);
    if (options_.max_batch_tokens == 0) options_.max_batch_tokens = backend_->default_pass_tokens();
    KvShape shape;
    shape.n_instances = plan_.n_instances();
    shape.n_kv_heads = int(spec.n_kv_heads);
    shape.head_dim = int(spec.head_dim);
    shape.block_size = options_.block_size;
    shape.type = kv_type();
    int64_t budget = options_.kv_budget_bytes;
    if (budget <= 0) {
        const int64_t positions = std::max<int64_t>(8192, spec.max_position);
        const int64_t per_block = shape.bytes_per_block();
        budget = (positions + shape.block_size - 1) / shape.block_size * per_block;
        // A long max_position (131072 for Llama 3) can ask for more than the machine has: the
        // automatic budget takes at most half of its memory (of the device's memory left after
        // the weights, for a device backend).
        const int64_t memory =
            backend_->host_memory()
                ? KvPool::machine_memory_bytes()
                : 2 * (backend_->memory_free() - model_->weight_bytes()) * 8 / 10;
        if (memory > 0) budget = std::max(per_block, std::min(budget, memory / 2));
    }
    kv_ = std::make_unique<KvPool>(shape, budget, backend_.get());
    // Blocks computed at another precision or stored in another type are not the same values:
    // each gets its own salt (the defaults keep the salt they always had).
    const std::string salt =
        model_->identity() + "|" + plan_.to_spec() +
        (options_.precision == Precision::fast ? "|fast" : "") +
        (kv_type() != DType::f32 ? "|kv " + std::string(dtype_name(kv_type())) : "");
    std::vector<int32_t> salt_tokens(salt.begin(), salt.end());
    cache_salt_ = KvPool::chain_hash(0, 0, salt_tokens);
}

Engine::~Engine() = default;

int StemState::shared_instances(const std::vector<int>& plan_layers) const {
    size_t k = 0;
    while (k < layers.size() && k < plan_layers.size() && layers[k] == plan_layers[k]) ++k;
    return int(k);
}

void Engine::set_stem_store(std::shared_ptr<StemStore> store, StemStoreUse use) {
    stem_store_ = std::move(store);
    stem_store_use_ = use;
}

void Engine::eval(std::span<EvalItem> items) {
    eval_impl(items, nullptr);
}

void Engine::eval_stem(EvalItem item, const StemRun& run) {
    const int n_inst = plan_.n_instances();
    if (run.start < 0 || run.start > n_inst)
        fail(ErrorKind::invalid_argument, "stem start {} outside the plan's 0-{} instances",
             run.start, n_inst);
    if (run.start > 0) {
        const StemState* from = run.from;
        if (!from)
            fail(ErrorKind::invalid_argument, "stem start {} without a stem state", run.start);
        if (from->model_identity != model_->identity())
            fail(ErrorKind::invalid_argument, "stem state is of another model");
        if (from->precision != options_.precision)
            fail(ErrorKind::invalid_argument,
                 "stem state computed at --precision {}, this engine runs --precision {}",
                 precision_name(from->precision), precision_name(options_.precision));
        if (from->memory_place != backend_->memory_place())
            fail(ErrorKind::invalid_argument,
                 "stem state lies in {} memory, this engine computes in {} memory",
                 from->memory_place, backend_->memory_place());
        if (from->kv_type != kv_type())  // earlier instances attended over other K/V
            fail(ErrorKind::invalid_argument,
                 "stem state computed with --kv-type {}, this engine runs --kv-type {}",
                 dtype_name(from->kv_type), dtype_name(kv_type()));
        if (from->shared_instances(plan_.layers) < run.start)
            fail(ErrorKind::invalid_argument,
                 "stem state of plan '{}' does not share the first {} instances of plan '{}'",
                 LayerPlan{from->layers}.to_spec(), run.start, plan_.to_spec());
        if (!item.seq || from->start_position != item.seq->size() ||
            !std::equal(from->tokens.begin(), from->tokens.end(), item.tokens.begin(),
                        item.tokens.end()))
            fail(ErrorKind::invalid_argument, "stem state covers other tokens or positions");
    }
    std::array<EvalItem, 1> items{item};
    eval_impl(items, &run);
}

void Engine::eval_impl(std::span<EvalItem> items, const StemRun* stem) {
    const ModelSpec& spec = model_->spec();
    ENCORE_ASSERT(!stem || items.size() == 1);
    const int B = kv_->block_size();

    // Validate everything before touching any state.
    std::unordered_set<const Sequence*> seen;
    int64_t n_total = 0;
    for (const EvalItem& item : items) {
        if (!item.seq) fail(ErrorKind::invalid_argument, "eval: null sequence");
        if (&item.seq->engine_ != this)
            fail(ErrorKind::invalid_argument, "eval: sequence belongs to another engine");
        if (!seen.insert(item.seq).second)
            fail(ErrorKind::invalid_argument, "eval: a sequence appears twice in one batch");
        for (int32_t t : item.tokens)
            if (t < 0 || t >= spec.vocab_size)
                fail(ErrorKind::out_of_range, "token id {} is out of range (vocabulary 0-{})", t,
                     spec.vocab_size - 1);
        const int64_t end = item.seq->size() + int64_t(item.tokens.size());
        if (spec.sliding_window > 0 && end > spec.sliding_window)
            fail(ErrorKind::unsupported,
                 "sequence of {} tokens exceeds the model's sliding window of {} (not supported)",
                 end, spec.sliding_window);
        if (end > INT32_MAX) fail(ErrorKind::invalid_argument, "sequence too long");
        n_total += int64_t(item.tokens.size());
    }

    // Reuse published blocks, then reserve blocks; on failure give back exactly what was taken.
    struct Reserved {
        Sequence* seq;
        size_t old_n_blocks;
        size_t old_n_tokens;
        int64_t cow_index = -1;  // block replaced by a private copy
        int32_t cow_old = -1;
    };
    std::vector<Reserved> reserved;
    std::vector<std::span<const int32_t>> to_compute(items.size());
    try {
        for (size_t i = 0; i < items.size(); ++i) {
            const EvalItem& item = items[i];
            Sequence& seq = *item.seq;
            Reserved r{&seq, seq.blocks_.size(), seq.tokens_.size()};
            reserved.push_back(r);
            to_compute[i] = item.tokens;
            if (options_.prefix_cache && !stem)
                to_compute[i] = reuse_prefix(seq, item.tokens, item.logits);
            if (to_compute[i].empty()) continue;
            const int64_t start = seq.size(), end = start + int64_t(to_compute[i].size());
            if (start % B != 0) {  // writing into a partial block: copy it first if shared
                                   // or published (after a truncate into a full block)
                const int64_t idx = start / B;
                const int32_t old = seq.blocks_[size_t(idx)];
                if (kv_->ref_count(old) > 1 || kv_->is_published(old)) {
                    const int32_t fresh = kv_->allocate();
                    kv_->copy_block(old, fresh, int(start % B));
                    seq.blocks_[size_t(idx)] = fresh;
                    reserved.back().cow_index = idx;
                    reserved.back().cow_old = old;
                }
            }
            const size_t need = size_t((end + B - 1) / B);
            while (seq.blocks_.size() < need) seq.blocks_.push_back(kv_->allocate());
        }
    } catch (...) {
        for (auto it = reserved.rbegin(); it != reserved.rend(); ++it) {
            Sequence& seq = *it->seq;
            while (seq.blocks_.size() > it->old_n_blocks) {
                kv_->release(seq.blocks_.back());
                seq.blocks_.pop_back();
            }
            if (it->cow_index >= 0) {
                kv_->release(seq.blocks_[size_t(it->cow_index)]);
                seq.blocks_[size_t(it->cow_index)] = it->cow_old;
            }
            seq.tokens_.resize(it->old_n_tokens);
            seq.block_hashes_.resize(it->old_n_tokens / size_t(B));
        }
        throw;
    }

    // Stem reuse: where each item starts and whose state it captures (see stem.h and
    // stem_store.h). Items are laid out grouped by start instance, each group its own forward
    // passes; without stem reuse there is one group, the items in their order.
    const int n_inst = plan_.n_instances();
    const int64_t d = spec.n_embd, kvd = spec.kv_dim();
    std::vector<int> item_start(items.size(), 0);
    std::vector<const StemState*> item_from(items.size(), nullptr);
    std::vector<char> capturing(items.size(), 0);
    if (stem) {
        item_start[0] = stem->start;
        item_from[0] = stem->start > 0 ? stem->from : nullptr;
        capturing[0] = stem->capture != nullptr;
    } else if (stem_store_) {
        int64_t pending = 0;  // bytes of the states this call will add to the store
        for (size_t i = 0; i < items.size(); ++i) {
            const std::span<const int32_t> todo = to_compute[i];
            if (todo.empty()) continue;
            const std::vector<int32_t>& context = items[i].seq->tokens_;
            if (stem_store_use_ == StemStoreUse::reuse) {
                const StemState* s = stem_store_->find(context, todo);
                if (!s || s->model_identity != model_->identity() ||
                    s->precision != options_.precision || s->kv_type != kv_type() ||
                    s->memory_place != backend_->memory_place())
                    continue;
                item_start[i] = s->shared_instances(plan_.layers);
                if (item_start[i] > 0) item_from[i] = s;
            } else {
                const int64_t bytes =
                    StemStore::state_bytes(int64_t(todo.size()), n_inst, d, kvd) +
                    int64_t(context.size() + todo.size()) * int64_t(sizeof(int32_t));
                if (!stem_store_->fits(pending + bytes)) {
                    stem_store_->refuse();
                    continue;
                }
                pending += bytes;
                capturing[i] = 1;
            }
        }
    }
    std::vector<size_t> order(items.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return item_start[a] < item_start[b]; });

    // Lay the batch out: tokens of each item in `order`, each tagged with sequence and position.
    std::vector<int32_t> tokens, positions, seq_index, logit_rows;
    std::vector<const int32_t*> tables;
    std::vector<std::pair<size_t, int64_t>> row_owner;  // (item, position) of each logit row
    std::vector<int64_t> item_begin(items.size()), item_end(items.size());  // token ranges
    tokens.reserve(size_t(n_total));
    for (const EvalItem& item : items) tables.push_back(item.seq->blocks_.data());
    for (size_t i : order) {
        const EvalItem& item = items[i];
        const std::span<const int32_t> todo = to_compute[i];
        const int64_t start = item.seq->size(), m = int64_t(todo.size());
        item_begin[i] = int64_t(tokens.size());
        for (int64_t j = 0; j < m; ++j) {
            const bool keep =
                item.logits == Logits::all || (item.logits == Logits::last && j == m - 1);
            if (keep) {
                logit_rows.push_back(int32_t(tokens.size()));
                row_owner.emplace_back(i, start + j);
            }
            tokens.push_back(todo[size_t(j)]);
            positions.push_back(int32_t(start + j));
            seq_index.push_back(int32_t(i));
        }
        item_end[i] = int64_t(tokens.size());
    }

    n_total = int64_t(tokens.size());           // what is left to compute after prefix reuse
    for (size_t t = 0; t < tokens.size(); ++t)  // every position has a block
        ENCORE_ASSERT(size_t(positions[t] / B) < items[size_t(seq_index[t])].seq->blocks_.size());

    // States being captured: filled, then handed over once the call has succeeded.
    std::vector<StemState> captured(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
        if (!capturing[i]) continue;
        StemState& c = captured[i];
        const int64_t m = item_end[i] - item_begin[i];
        c.model_identity = model_->identity();
        c.precision = options_.precision;
        c.kv_type = kv_type();
        c.layers = plan_.layers;
        c.tokens.assign(to_compute[i].begin(), to_compute[i].end());
        c.start_position = items[i].seq->size();
        c.n_embd = d;
        c.kv_dim = kvd;
        c.allocate(*backend_);
        for (int b = 0; b < item_start[i]; ++b) {  // the reused stem
            const StemState& from = *item_from[i];
            backend_->copy(c.residual(b), from.residual(b), size_t(m * d) * sizeof(float));
            backend_->copy(c.k(b), from.k(b), size_t(m * kvd) * sizeof(float));
            backend_->copy(c.v(b), from.v(b), size_t(m * kvd) * sizeof(float));
        }
    }

    // Run each group in chunks of at most max_batch_tokens; kernels are row-invariant, so
    // neither chunking nor grouping changes any result.
    const int64_t vocab = spec.vocab_size;
    std::vector<float> row_logits(logit_rows.size() * size_t(vocab));  // [n_rows, vocab]
    const int64_t chunk = options_.max_batch_tokens;
    size_t row_begin = 0;
    for (size_t g0 = 0; g0 < order.size();) {
        size_t g1 = g0;
        const int group_start = item_start[order[g0]];
        while (g1 < order.size() && item_start[order[g1]] == group_start) ++g1;
        const std::span<const size_t> group = std::span(order).subspan(g0, g1 - g0);
        const int64_t begin = item_begin[group.front()], end = item_end[group.back()];
        g0 = g1;
        // The group's stem: the residual entering group_start and the skipped instances' K/V,
        // [end - begin, n_embd] and [group_start] x [end - begin, kv_dim]: one item's state in
        // place, several items' states gathered (backend memory, like the states).
        const float* stem_x = nullptr;
        const size_t n_skipped = size_t(group_start);
        std::vector<const float*> stem_k(n_skipped), stem_v(n_skipped);
        if (group_start > 0 && group.size() == 1) {
            const StemState& from = *item_from[group[0]];
            stem_x = from.residual(group_start);
            for (int ii = 0; ii < group_start; ++ii) {
                stem_k[size_t(ii)] = from.k(ii);
                stem_v[size_t(ii)] = from.v(ii);
            }
        } else if (group_start > 0) {
            // [end - begin, n_embd], then K of each skipped instance, then V: [end - begin, kv]
            const int64_t n_group = end - begin;
            stem_gather_.resize(*backend_, size_t(n_group * (d + 2 * group_start * kvd)));
            float* const x = stem_gather_.data();
            float* const k = x + n_group * d;
            float* const v = k + group_start * n_group * kvd;
            for (size_t i : group) {
                const StemState& from = *item_from[i];
                const int64_t at = item_begin[i] - begin, m = item_end[i] - item_begin[i];
                backend_->copy(x + at * d, from.residual(group_start),
                               size_t(m * d) * sizeof(float));
                for (int ii = 0; ii < group_start; ++ii) {
                    const int64_t to = (ii * n_group + at) * kvd;
                    backend_->copy(k + to, from.k(ii), size_t(m * kvd) * sizeof(float));
                    backend_->copy(v + to, from.v(ii), size_t(m * kvd) * sizeof(float));
                }
            }
            stem_x = x;
            for (int ii = 0; ii < group_start; ++ii) {
                stem_k[size_t(ii)] = k + ii * n_group * kvd;
                stem_v[size_t(ii)] = v + ii * n_group * kvd;
            }
        }
        bool group_captures = false;
        for (size_t i : group) group_captures = group_captures || capturing[i];

        std::vector<const float*> chunk_k, chunk_v;  // [group_start] of the current chunk
        for (int64_t c0 = begin; c0 < end; c0 += chunk) {
            const int64_t c1 = std::min(end, c0 + chunk);
            size_t row_end = row_begin;
            std::vector<int32_t> local_rows;
            while (row_end < logit_rows.size() && logit_rows[row_end] < c1)
                local_rows.push_back(int32_t(logit_rows[row_end++] - c0));
            ForwardInput in;
            in.tokens = std::span(tokens).subspan(size_t(c0), size_t(c1 - c0));
            in.positions = std::span(positions).subspan(size_t(c0), size_t(c1 - c0));
            in.seq_index = std::span(seq_index).subspan(size_t(c0), size_t(c1 - c0));
            in.block_tables = tables;
            in.logit_rows = local_rows;
            if (group_start > 0) {
                const int64_t off = c0 - begin;
                in.start_instance = group_start;
                in.residual_in = stem_x + off * d;
                chunk_k.clear();
                chunk_v.clear();
                for (int ii = 0; ii < group_start; ++ii) {
                    chunk_k.push_back(stem_k[size_t(ii)] + off * kvd);
                    chunk_v.push_back(stem_v[size_t(ii)] + off * kvd);
                }
                in.stem_k = chunk_k;
                in.stem_v = chunk_v;
            }
            if (group_captures) {
                // Rows [c0, c1) of the batch: each capturing item's share of them, in place.
                in.tap = [&, c0, c1](int ii, const float* x, const float* k, const float* v) {
                    for (size_t i : group) {
                        const int64_t lo = std::max(c0, item_begin[i]);
                        const int64_t hi = std::min(c1, item_end[i]);
                        if (!capturing[i] || lo >= hi) continue;
                        const StemState& c = captured[i];
                        const int64_t at = lo - item_begin[i], from = lo - c0, m = hi - lo;
                        backend_->copy(c.residual(ii) + at * d, x + from * d,
                                       size_t(m * d) * sizeof(float));
                        if (!k) continue;
                        backend_->copy(c.k(ii) + at * kvd, k + from * kvd,
                                       size_t(m * kvd) * sizeof(float));
                        backend_->copy(c.v(ii) + at * kvd, v + from * kvd,
                                       size_t(m * kvd) * sizeof(float));
                    }
                };
            }
            forward(*model_, plan_, *backend_, *kv_, scratch_, in,
                    row_logits.data() + row_begin * size_t(vocab));
            row_begin = row_end;
        }
    }

    // Commit. States are read next by other engines, on backends of their own: their copies
    // must be complete first.
    if (std::find(capturing.begin(), capturing.end(), 1) != capturing.end())
        backend_->synchronize();
    for (size_t i = 0; i < items.size(); ++i) {
        if (!capturing[i]) continue;
        if (stem)
            *stem->capture = std::move(captured[i]);
        else  // keyed by the context before the item's computed tokens
            stem_store_->add(items[i].seq->tokens_, std::move(captured[i]));
    }
    for (const Reserved& r : reserved)
        if (r.cow_index >= 0) kv_->release(r.cow_old);
    for (size_t i = 0; i < items.size(); ++i) {
        Sequence& seq = *items[i].seq;
        seq.tokens_.insert(seq.tokens_.end(), to_compute[i].begin(), to_compute[i].end());
        seq.logits_.clear();
        seq.logit_positions_.clear();
        publish_full_blocks(seq);
    }
    if (items.size() == 1) {  // every row is the one item's: hand the buffer over, uncopied
        Sequence& seq = *items[0].seq;
        for (const auto& owner : row_owner) seq.logit_positions_.push_back(owner.second);
        seq.logits_ = std::move(row_logits);
        return;
    }
    for (size_t r = 0; r < row_owner.size(); ++r) {
        Sequence& seq = *items[row_owner[r].first].seq;
        seq.logit_positions_.push_back(row_owner[r].second);
        seq.logits_.insert(seq.logits_.end(), row_logits.begin() + int64_t(r) * vocab,
                           row_logits.begin() + int64_t(r + 1) * vocab);
    }
}

std::span<const int32_t> Engine::reuse_prefix(Sequence& seq, std::span<const int32_t> tokens,
                                              Logits logits) {
    const int B = kv_->block_size();
    if (seq.size() % B != 0) return tokens;
    // Tokens whose logits are wanted must be computed.
    const size_t reusable = logits == Logits::none                      ? tokens.size()
                            : logits == Logits::last && !tokens.empty() ? tokens.size() - 1
                                                                        : 0;
    size_t consumed = 0;
    while (consumed + size_t(B) <= reusable) {
        const auto block_tokens = tokens.subspan(consumed, size_t(B));
        const uint64_t parent = seq.block_hashes_.empty() ? 0 : seq.block_hashes_.back();
        const uint64_t hash = KvPool::chain_hash(parent, cache_salt_, block_tokens);
        const int32_t block = kv_->lookup(hash, block_tokens);
        if (block < 0) break;
        seq.blocks_.push_back(block);
        seq.block_hashes_.push_back(hash);
        seq.tokens_.insert(seq.tokens_.end(), block_tokens.begin(), block_tokens.end());
        consumed += size_t(B);
    }
    return tokens.subspan(consumed);
}

void Engine::publish_full_blocks(Sequence& seq) {
    const int B = kv_->block_size();
    const size_t n_full = seq.tokens_.size() / size_t(B);
    while (seq.block_hashes_.size() < n_full) {
        const size_t i = seq.block_hashes_.size();
        const auto block_tokens = std::span(seq.tokens_).subspan(i * size_t(B), size_t(B));
        const uint64_t parent = i == 0 ? 0 : seq.block_hashes_[i - 1];
        const uint64_t hash = KvPool::chain_hash(parent, cache_salt_, block_tokens);
        seq.block_hashes_.push_back(hash);
        if (options_.prefix_cache) kv_->publish(hash, block_tokens, seq.blocks_[i]);
    }
}

std::shared_ptr<Backend> make_backend(const EngineOptions& options, ThreadPool& threads) {
    if (options.backend == "cpu") return make_cpu_backend(threads, options.precision);
    if (options.backend == "scalar") return make_scalar_backend();
    if (options.backend == "cuda")
        return make_cuda_backend({options.device, options.deterministic});
    fail(ErrorKind::invalid_argument, "unknown device '{}' (available: cpu, scalar, cuda)",
         options.backend);
}

DType default_kv_type(const std::string& backend, const Model& model) {
    if (backend != "cuda") return DType::f32;
    const DType weights = model.weights().layers.at(0).wq.dtype;
    return weights == DType::bf16 || weights == DType::f16 ? weights : DType::f32;
}

}  // namespace encore
