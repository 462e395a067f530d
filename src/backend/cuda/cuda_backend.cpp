// The CUDA backend: the Backend interface on one GPU (see backend.h and kernels.h).
//
// Memory: activations, scratch and the KV pool are device memory (cudaMalloc, zeroed). Weights
// arrive as host TensorViews and are uploaded once, in their stored dtype, into a cache shared
// by every CUDA backend of the process (engines of one model share one copy). Host inputs of a
// forward pass (positions, sequences, block tables, token ids, logit rows) go through a pinned
// staging buffer and one asynchronous copy each. All work is enqueued on the backend's stream; the
// host waits only where results cross to the host (to_host) and before reusing staging memory.
#ifdef ENCORE_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/env_switch.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/kernels.h"
#include "backend/cuda/pass_timeline.h"

namespace encore {

namespace {

using namespace encore::cuda;

// Weights on the device, shared by the backends of the process, keyed by host address and size
// and checked against a sample of their bytes (a freed model's address reused by another).
class WeightCache {
  public:
    static WeightCache& instance() {
        static WeightCache cache;
        return cache;
    }
    const void* get(const TensorView& t) {
        const int64_t bytes = t.n_bytes();
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = entries_.find(t.data);
        const uint64_t fp = fingerprint(t.data, bytes);
        if (it != entries_.end()) {
            if (it->second.bytes == bytes && it->second.fingerprint == fp) return it->second.ptr;
            cudaFree(it->second.ptr);
            entries_.erase(it);
        }
        void* p = nullptr;
        check_cuda(cudaMalloc(&p, size_t(std::max<int64_t>(bytes, 1))), "uploading a weight");
        check_cuda(cudaMemcpy(p, t.data, size_t(bytes), cudaMemcpyHostToDevice),
                   "uploading a weight");
        // From pageable memory cudaMemcpy returns once the data is staged, before the DMA to the
        // device ends, and the backends' streams do not wait on the default stream: wait here,
        // or the first forward pass can read a weight still arriving.
        check_cuda(cudaDeviceSynchronize(), "uploading a weight");
        entries_.emplace(t.data, Entry{p, bytes, fp});
        return p;
    }

  private:
    struct Entry {
        void* ptr;
        int64_t bytes;
        uint64_t fingerprint;
    };
    static uint64_t fingerprint(const void* data, int64_t bytes) {
        const auto* b = static_cast<const uint8_t*>(data);
        uint64_t h = 1469598103934665603ull ^ uint64_t(bytes);
        for (int s = 0; s < 16; ++s) {  // 16 samples of 8 bytes spread over the tensor
            const int64_t at = bytes <= 8 ? 0 : (bytes - 8) * s / 15;
            uint64_t v = 0;
            std::memcpy(&v, b + at, size_t(std::min<int64_t>(8, bytes)));
            h = (h ^ v) * 1099511628211ull;
        }
        return h;
    }
    std::mutex mutex_;
    std::unordered_map<const void*, Entry> entries_;
};

// A growable array of device memory or of pinned host memory (contents not kept when it grows).
enum class Memory { device, pinned_host };
template <typename T, Memory Where = Memory::device>
struct GrowableArray {
    T* ptr = nullptr;
    size_t capacity = 0;
    T* get(size_t n) {
        if (n > capacity) {
            release();
            void* p = nullptr;
            const size_t bytes = std::max<size_t>(n, 1) * sizeof(T);
            check_cuda(Where == Memory::device ? cudaMalloc(&p, bytes) : cudaMallocHost(&p, bytes),
                       Where == Memory::device ? "scratch" : "pinned host memory");
            ptr = static_cast<T*>(p);
            capacity = n;
        }
        return ptr;
    }
    void release() {
        if (ptr) Where == Memory::device ? cudaFree(ptr) : cudaFreeHost(ptr);
        ptr = nullptr;
        capacity = 0;
    }
    ~GrowableArray() { release(); }
};
template <typename T>
using DeviceArray = GrowableArray<T, Memory::device>;
using PinnedArray = GrowableArray<uint8_t, Memory::pinned_host>;

class CudaBackend final : public Backend {
  public:
    explicit CudaBackend(const DeviceOptions& options) : options_(options) {
        int count = 0;
        check_cuda(cudaGetDeviceCount(&count), "looking for a CUDA device");
        if (options.device < 0 || options.device >= count)
            fail(ErrorKind::invalid_argument, "CUDA device {} does not exist ({} found)",
                 options.device, count);
        check_cuda(cudaSetDevice(options.device), "cudaSetDevice");
        check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream");
        check_cuda(cudaEventCreateWithFlags(&staged_, cudaEventDisableTiming), "event");
        for (cudaEvent_t& e : piece_copied_)
            check_cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "event");
        gemm_ = std::make_unique<Gemm>(stream_, options.deterministic);
        residual_in_gemm_ = !env_equals("ENCORE_CUDA_RESIDUAL_IN_GEMM", "0");
    }
    ~CudaBackend() override {
        cudaStreamSynchronize(stream_);
        release_staging();
        for (auto& r : retired_) free_staging(r);
        gemm_.reset();
        cudaEventDestroy(staged_);
        for (cudaEvent_t e : piece_copied_) cudaEventDestroy(e);
        cudaStreamDestroy(stream_);
    }

    std::string name() const override { return "cuda"; }
    bool host_memory() const override { return false; }
    int64_t memory_free() const override {
        size_t free = 0, total = 0;
        check_cuda(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
        return int64_t(free);
    }
    // Passes of 16384 tokens on GPUs of 70 GiB and more (vLLM's offline default there, which it
    // does not take on the A100; not measured here): a long prompt or a scoring batch (32 items
    // of 300 tokens) runs as one pass. On an H100, passes of 10240 tokens instead of 2048
    // prefilled 8192 tokens 4-5% faster and scored 5% faster (bench/RESULTS.md). Smaller GPUs
    // take 4096: a pass's scratch grows with it (about 250 KB per token for the Llama-3-8B
    // shape).
    int64_t default_pass_tokens() const override {
        size_t free = 0, total = 0;
        check_cuda(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
        return double(total) >= 70.0 * double(int64_t(1) << 30) ? 16384 : 4096;
    }

    // Zeroed on the backend's stream, so that the work enqueued after it finds the zeros and
    // not the other way round: cudaMemset runs on the legacy default stream, which this
    // non-blocking stream does not wait for, and a KV pool's clearing (milliseconds for
    // gigabytes) could overwrite K/V the first forward pass had stored.
    void* allocate(size_t bytes) override {
        void* p = nullptr;
        check_cuda(cudaMalloc(&p, std::max<size_t>(bytes, 1)), "allocating device memory");
        check_cuda(cudaMemsetAsync(p, 0, std::max<size_t>(bytes, 1), stream_),
                   "zeroing device memory");
        return p;
    }
    void deallocate(void* p) override {
        cudaStreamSynchronize(stream_);
        cudaFree(p);
    }
    // Freed by whichever thread lets go last, with this device current, after the backend may
    // be gone (cudaFree waits for the device's work).
    std::shared_ptr<float> allocate_shared(size_t n_floats) override {
        const size_t bytes = std::max<size_t>(n_floats * sizeof(float), 1);
        void* p = nullptr;
        check_cuda(cudaMalloc(&p, bytes), "allocating device memory");
        check_cuda(cudaMemsetAsync(p, 0, bytes, stream_), "zeroing device memory");
        const int device = options_.device;
        return std::shared_ptr<float>(static_cast<float*>(p), [device](float* q) {
            int current = 0;
            cudaGetDevice(&current);
            cudaSetDevice(device);
            cudaFree(q);
            cudaSetDevice(current);
        });
    }
    std::string memory_place() const override { return fmt::format("cuda:{}", options_.device); }
    void synchronize() override { check_cuda(cudaStreamSynchronize(stream_), "work on the GPU"); }
    void copy(void* dst, const void* src, size_t bytes) override {
        x16_of_ = nullptr;
        check_cuda(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_), "copy");
    }
    // Copies of 64 KiB and more go through pinned memory in pieces, each piece's copy on the host
    // overlapping the next one's transfer: straight into pageable memory, one row of logits of a
    // 128k vocabulary (513 KB) took 87 µs on an H100, 6 GB/s (bench/RESULTS.md).
    void to_host(void* host_dst, const void* src, size_t bytes) override {
        timeline_.before_copy(stream_);
        if (bytes < k_pinned_copy_min) {
            check_cuda(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, stream_),
                       "copy to the host");
            timeline_.after_copy(stream_);
            check_cuda(cudaStreamSynchronize(stream_), "forward pass on the GPU");
            timeline_.results_on_host();
            return;
        }
        uint8_t* pinned = results_pinned_.get(bytes);
        const size_t piece = (bytes / k_copy_pieces + 4095) / 4096 * 4096;
        const auto* from = static_cast<const uint8_t*>(src);
        auto* to = static_cast<uint8_t*>(host_dst);
        int pieces = 0;
        for (size_t at = 0; at < bytes; at += piece, ++pieces) {
            check_cuda(cudaMemcpyAsync(pinned + at, from + at, std::min(piece, bytes - at),
                                       cudaMemcpyDeviceToHost, stream_),
                       "copy to the host");
            check_cuda(cudaEventRecord(piece_copied_[pieces], stream_), "event");
        }
        timeline_.after_copy(stream_);
        for (int i = 0; i < pieces; ++i) {
            check_cuda(cudaEventSynchronize(piece_copied_[i]), "forward pass on the GPU");
            const size_t at = size_t(i) * piece;
            std::memcpy(to + at, pinned + at, std::min(piece, bytes - at));
        }
        timeline_.results_on_host();
    }
    void from_host(void* dst, const void* host_src, size_t bytes) override {
        x16_of_ = nullptr;
        check_cuda(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, stream_),
                   "copy from the host");
        check_cuda(cudaStreamSynchronize(stream_), "copy from the host");
    }

    void begin_batch(const BatchLayout& batch) override {
        timeline_.begin_pass(stream_);
        // Staging memory of the previous batch may still be read by its copies.
        check_cuda(cudaEventSynchronize(staged_), "waiting for staged copies");
        staging_used_ = 0;
        if (!retired_.empty()) {
            check_cuda(cudaStreamSynchronize(stream_), "stream");
            for (auto& r : retired_) free_staging(r);
            retired_.clear();
        }
        layout_ = batch;
        has_layout_ = true;
        // A side copy, a skipped output and a hint name memory of one pass: before the next, it
        // may be freed and handed out again (scratch regrown, or another engine's scratch on a
        // shared backend).
        x16_of_ = nullptr;
        f32_skipped_ = nullptr;
        output_for_.reset();
        rope_table_for_ = 0;
        tables_block_size_ = 0;
        tiles_tokens_ = 0;
        const int64_t n = batch.n_tokens;
        dev_.n_tokens = n;
        dev_.positions = upload(batch.positions, size_t(n));
        dev_.seq_index = upload(batch.seq_index, size_t(n));
        max_pos_ = 0;
        n_seqs_ = 0;
        for (int64_t i = 0; i < n; ++i) {
            max_pos_ = std::max(max_pos_, batch.positions[i]);
            n_seqs_ = std::max(n_seqs_, batch.seq_index[i] + 1);
        }
    }

    void embed(const TensorView& table, const int32_t* ids, int64_t n, float* out) override {
        x16_of_ = nullptr;
        for (int64_t i = 0; i < n; ++i)  // all ids are checked before anything is written
            if (ids[i] < 0 || ids[i] >= table.n_rows())
                fail(ErrorKind::out_of_range, "token id {} is outside the vocabulary of {}", ids[i],
                     table.n_rows());
        launch_embed(weight(table), table.dtype, table.row_elems(), upload(ids, size_t(n)), n, out,
                     stream_);
        check_launch("embed");
    }

    void next_output_for_matmuls(DType weight_type) override { output_for_ = weight_type; }

    void rms_norm(const float* x, const TensorView& w, float eps, int64_t n, float* out) override {
        void* out16 = side16(out, n * w.n_elements());
        launch_rms_norm(x, weight(w), w.dtype, eps, n, w.n_elements(), f32_target(out, out16),
                        out16, activation16_, stream_);
        check_launch("rms_norm");
    }

    void matmul(const float* x, int64_t n, const TensorView& w, const TensorView* bias,
                float* y) override {
        const MatmulOut one{&w, bias, y};
        matmuls(x, n, std::span(&one, 1));
    }

    void matmuls(const float* x, int64_t n, std::span<const MatmulOut> outs) override {
        run_matmuls(x, n, outs, false);
    }

    // residual += x · Wᵀ with the add in the GEMM's epilogue (cuBLASLt's beta = 1, C = D =
    // residual) or in the GEMV's store: one rounding of (product + residual), as matmul() into
    // scratch and add() give, and no pass of the products through memory. With a bias, or
    // weights the GEMMs do not take in 16 bits, the matmul and the add in turn. In the
    // environment, ENCORE_CUDA_RESIDUAL_IN_GEMM=0 always takes the two steps (for comparisons).
    void matmul_add(const float* x, int64_t n, const TensorView& w, const TensorView* bias,
                    float* residual, float* scratch) override {
        if (bias || !residual_in_gemm_ || (w.dtype != DType::bf16 && w.dtype != DType::f16))
            return Backend::matmul_add(x, n, w, bias, residual, scratch);
        check_f32_written(residual);
        const MatmulOut one{&w, nullptr, residual};
        run_matmuls(x, n, std::span(&one, 1), true);
    }

    // matmuls(), or with `accumulate` every y += x · Wᵀ (16-bit weights without bias only).
    void run_matmuls(const float* x, int64_t n, std::span<const MatmulOut> outs, bool accumulate) {
        if (n == 0) return;
        // x converted once to the 16-bit type of the weights, or already there (side16).
        const void* x16 = nullptr;
        DType x16_type = DType::f32;
        if (x16_of_ == x && x16_count_ == n * outs[0].w->row_elems()) {
            x16 = x16_at_;
            x16_type = activation16_;
        }
        x16_of_ = nullptr;
        output_for_.reset();
        for (const MatmulOut& o : outs)  // written in f32 below
            if (o.y == f32_skipped_ && o.y != x) f32_skipped_ = nullptr;
        auto ensure_x16 = [&](DType type, int64_t k) {
            activation16_ = type;
            if (x16 && x16_type == type) return;
            x16 = convert16(x, n * k, type);
            x16_type = type;
        };
        // Decode: every weight 16-bit of one type, a few rows: one GEMV launch for all of them.
        const DType first_type = outs[0].w->dtype;
        const int64_t k = outs[0].w->row_elems();
        bool gemv = gemv16_takes(n, k, first_type);
        for (const MatmulOut& o : outs)
            gemv = gemv && o.w->dtype == first_type && o.w->row_elems() == k;
        if (gemv) {
            ensure_x16(first_type, k);
            std::vector<Gemv16Out> gemv_outs;
            for (const MatmulOut& o : outs)
                gemv_outs.push_back({weight(*o.w), o.w->n_rows(), o.y, accumulate});
            launch_gemv16(gemv_outs.data(), int(gemv_outs.size()), first_type, k, x16, n, stream_);
            check_launch("gemv16");
        }
        auto add_bias = [&](const MatmulOut& o) {
            if (!o.bias) return;
            launch_add_bias(o.y, n, o.w->n_rows(), weight(*o.bias), o.bias->dtype, stream_);
            check_launch("add_bias");
        };
        for (size_t i = 0; i < outs.size(); ++i) {
            const MatmulOut& o = outs[i];
            const TensorView& w = *o.w;
            const int64_t m = w.n_rows(), kw = w.row_elems();
            // The next weight of the same type and shape (v after k, up after gate): one
            // launch for both where the GEMM can take them as a batch, the same bits.
            const MatmulOut* twin = i + 1 < outs.size() ? &outs[i + 1] : nullptr;
            if (twin && !(twin->w->dtype == w.dtype && twin->w->n_rows() == m &&
                          twin->w->row_elems() == kw))
                twin = nullptr;
            if (gemv) {
                // done above
            } else if (w.dtype == DType::bf16 || w.dtype == DType::f16) {
                ensure_x16(w.dtype, kw);
                if (twin && !accumulate) {
                    // Uploaded in order at first use (consecutive allocations usually ascend).
                    const void* w0 = weight(w);
                    const void* w1 = weight(*twin->w);
                    gemm_->run_pair(w.dtype, w0, w1, m, kw, x16, n, o.y, twin->y);
                    add_bias(o);
                    add_bias(*twin);
                    ++i;
                    continue;
                }
                gemm_->run(w.dtype, weight(w), m, kw, x16, n, o.y, accumulate);
            } else if (w.dtype == DType::f32) {
                check_f32_written(x);
                gemm_->run(DType::f32, weight(w), m, kw, x, n, o.y);
            } else if (w.dtype == DType::q8_0 || w.dtype == DType::q4_0) {
                check_f32_written(x);
                launch_matmul_quant(x, n, weight(w), w.dtype, m, kw, o.y, stream_);
                check_launch("matmul_quant");
            } else {
                fail(ErrorKind::unsupported, "CUDA matmul of {} weights", dtype_name(w.dtype));
            }
            add_bias(o);
        }
    }

    void swiglu(const float* x, int64_t n, const TensorView& w_gate, const TensorView& w_up,
                float* gate, float* up, float* out) override {
        const DType type = w_gate.dtype;
        const int64_t m = w_gate.n_rows(), k = w_gate.row_elems();
        const bool same = w_up.dtype == type && w_up.n_rows() == m && w_up.row_elems() == k;
        const bool gemv = same && gemv16_takes(n, k, type);
        const bool pair = same && !gemv && (type == DType::bf16 || type == DType::f16);
        if (!gemv && !pair) return Backend::swiglu(x, n, w_gate, w_up, gate, up, out);
        // x's 16-bit copy (written beside it by the op before), or x converted now.
        const void* x16 = x16_of_ == x && x16_count_ == n * k && activation16_ == type
                              ? x16_at_
                              : convert16(x, n * k, type);
        activation16_ = type;
        if (pair) {
            // The two GEMMs as one batch: gate and up are this call's scratch, so the product of
            // the weight lower in memory goes to the lower buffer, and both strides are positive.
            const void* wg = weight(w_gate);
            const void* wu = weight(w_up);
            float* low = std::min(gate, up);
            float* high = std::max(gate, up);
            float* gate_y = wg < wu ? low : high;
            float* up_y = wg < wu ? high : low;
            gemm_->run_pair(type, wg, wu, m, k, x16, n, gate_y, up_y);
            x16_of_ = nullptr;
            silu_mul(gate_y, up_y, n * m, out);
            return;
        }
        void* out16 = side16(out, n * m, x16);
        launch_gemv16_swiglu(weight(w_gate), weight(w_up), m, type, k, x16, n,
                             f32_target(out, out16), out16, activation16_, stream_);
        check_launch("gemv16 swiglu");
    }

    void rope(float* x, int64_t n, int n_heads, const int32_t* positions,
              const RopeTable& table) override {
        x16_of_ = nullptr;
        launch_rope(x, n, n_heads, table.head_dim, rotations(positions, n, table), stream_);
        check_launch("rope");
    }

    void rope_kv_store(float* q, int n_heads, float* k, const float* v, const RopeTable& table,
                       const KvLayerView& kv, const BatchLayout& batch) override {
        x16_of_ = nullptr;
        if (table.head_dim != kv.head_dim)
            return Backend::rope_kv_store(q, n_heads, k, v, table, kv, batch);
        prepare(batch, kv.block_size);
        const float* cos_sin = rotations(batch.positions, batch.n_tokens, table);
        launch_rope_kv_store(q, n_heads, k, v, cos_sin, device_view(kv), dev_, stream_);
        check_launch("rope_kv_store");
    }

    void silu_mul(const float* gate, const float* up, int64_t n, float* out) override {
        void* out16 = side16(out, n);
        launch_silu_mul(gate, up, n, f32_target(out, out16), out16, activation16_, stream_);
        check_launch("silu_mul");
    }

    void add(float* x, const float* y, int64_t n) override {
        x16_of_ = nullptr;
        launch_add(x, y, n, stream_);
        check_launch("add");
    }

    void kv_store(const float* k, const float* v, const KvLayerView& kv,
                  const BatchLayout& batch) override {
        prepare(batch, kv.block_size);
        launch_kv_store(k, v, device_view(kv), dev_, stream_);
        check_launch("kv_store");
    }

    void attention(const float* q, int n_heads, const KvLayerView& kv, const BatchLayout& batch,
                   float* out) override {
        x16_of_ = nullptr;
        prepare(batch, kv.block_size);
        const AttentionPlan plan = attention_plan(n_heads, kv.n_kv_heads, kv.head_dim, kv.type);
        if (tiles_tokens_ != plan.tile_tokens) {  // tiles of this batch for this model
            std::vector<AttentionTile> tiles;
            for (int64_t i = 0; i < batch.n_tokens; ++i) {
                if (tiles.empty() || tiles.back().seq != batch.seq_index[i] ||
                    tiles.back().n_tokens == plan.tile_tokens)
                    tiles.push_back({int32_t(i), 0, batch.seq_index[i], 0});
                tiles.back().n_tokens++;
                tiles.back().max_pos = std::max(tiles.back().max_pos, batch.positions[i]);
            }
            tiles_ = upload(tiles.data(), tiles.size());
            n_tiles_ = int(tiles.size());
            tiles_tokens_ = plan.tile_tokens;
        }
        const bool fused = attention_fused(kv.type, kv.n_kv_heads, kv.head_dim, plan, n_tiles_);
        float* scratch = fused ? nullptr
                               : attention_scratch_.get(size_t(attention_scratch_floats(
                                     batch.n_tokens, n_heads, kv.head_dim, max_pos_)));
        // The output's 16-bit copy for the matmul that follows (side16), written by attention.
        void* out16 = side16(out, batch.n_tokens * n_heads * kv.head_dim);
        const AttentionOut o{f32_target(out, out16), out16, activation16_};
        launch_attention(q, n_heads, device_view(kv), dev_, tiles_, n_tiles_, max_pos_, scratch, o,
                         stream_);
        check_launch("attention");
    }

    void gather_rows(const float* src, int64_t d, const int32_t* rows, int64_t n,
                     float* dst) override {
        x16_of_ = nullptr;
        launch_gather_rows(src, d, upload(rows, size_t(n)), n, dst, stream_);
        check_launch("gather_rows");
    }

  private:
    struct Staging {
        uint8_t* host = nullptr;
        uint8_t* device = nullptr;
        size_t bytes = 0;
    };

    static void free_staging(Staging& s) {
        if (s.host) cudaFreeHost(s.host);
        if (s.device) cudaFree(s.device);
        s = {};
    }
    void release_staging() { free_staging(staging_); }

    // Copies n host values to device memory valid until the next begin_batch.
    template <typename T>
    const T* upload(const T* host, size_t n) {
        const size_t bytes = n * sizeof(T), aligned = (bytes + 255) / 256 * 256;
        if (staging_used_ + aligned > staging_.bytes) {
            // Earlier uploads of this batch stay valid: the old buffers retire at the next batch.
            const size_t old_bytes = staging_.bytes;
            if (staging_.host) retired_.push_back(staging_);
            staging_ = {};
            const size_t want = std::max<size_t>({aligned, size_t(1) << 20, 2 * old_bytes});
            check_cuda(cudaMallocHost(reinterpret_cast<void**>(&staging_.host), want),
                       "pinned staging memory");
            check_cuda(cudaMalloc(reinterpret_cast<void**>(&staging_.device), want),
                       "staging memory");
            staging_.bytes = want;
            staging_used_ = 0;
        }
        uint8_t* h = staging_.host + staging_used_;
        uint8_t* d = staging_.device + staging_used_;
        if (bytes) std::memcpy(h, host, bytes);
        staging_used_ += aligned;
        check_cuda(cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, stream_), "staging");
        check_cuda(cudaEventRecord(staged_, stream_), "event");
        return reinterpret_cast<const T*>(d);
    }

    // The batch's block tables on the device (they depend on the pool's block size).
    void prepare(const BatchLayout& batch, int block_size) {
        if (!has_layout_ || batch.positions != layout_.positions ||
            batch.n_tokens != layout_.n_tokens)
            begin_batch(batch);
        if (tables_block_size_ == block_size) return;
        std::vector<int32_t> seq_max(size_t(n_seqs_), -1), offsets(size_t(n_seqs_), 0), flat;
        for (int64_t i = 0; i < batch.n_tokens; ++i)
            seq_max[size_t(batch.seq_index[i])] =
                std::max(seq_max[size_t(batch.seq_index[i])], batch.positions[i]);
        for (int32_t s = 0; s < n_seqs_; ++s) {
            offsets[size_t(s)] = int32_t(flat.size());
            if (seq_max[size_t(s)] < 0) continue;
            const int32_t* table = batch.block_tables[s];
            flat.insert(flat.end(), table, table + seq_max[size_t(s)] / block_size + 1);
        }
        dev_.table_offsets = upload(offsets.data(), offsets.size());
        dev_.tables = upload(flat.data(), flat.size());
        tables_block_size_ = block_size;
    }

    static KvDeviceView device_view(const KvLayerView& kv) {
        KvDeviceView d;
        d.pool = kv.pool;
        d.type = kv.type;
        d.block_stride = kv.block_stride;
        d.instance_offset = kv.instance_offset;
        d.n_kv_heads = kv.n_kv_heads;
        d.head_dim = kv.head_dim;
        d.block_size = kv.block_size;
        return d;
    }

    const void* weight(const TensorView& t) { return WeightCache::instance().get(t); }

    // The 16-bit copy an op producing `out` (n values) writes beside it for the next matmuls, in
    // the 16-bit type of the weights seen last (null before any, or for f32/quantized models).
    // Every other op that writes device memory forgets it; matmuls uses it when its x is `out`.
    // An op still reading a 16-bit input (`reading`) gets the other of the two buffers.
    void* side16(const float* out, int64_t n, const void* reading = nullptr) {
        x16_of_ = nullptr;
        if (activation16_ != DType::bf16 && activation16_ != DType::f16) return nullptr;
        DeviceArray<uint16_t>& buf = reading && reading == x16_.ptr ? x16_spare_ : x16_;
        x16_at_ = buf.get(size_t(n));
        x16_of_ = out;
        x16_count_ = n;
        return x16_at_;
    }

    // Whether the decode GEMV takes n rows of x against 16-bit weights of `type` with rows of k.
    bool gemv16_takes(int64_t n, int64_t k, DType type) const {
        return !options_.deterministic && gemv16_fits(n, k) &&
               (type == DType::bf16 || type == DType::f16);
    }

    // `count` values of x converted to `type` into x16_.
    const void* convert16(const float* x, int64_t count, DType type) {
        check_f32_written(x);
        void* buf = x16_.get(size_t(count));
        launch_convert(x, count, type, buf, stream_);
        check_launch("convert");
        return buf;
    }

    // The (cos, sin) table of n positions [n, head_dim / 2, 2] on the device. The batch's
    // rotations are computed by its first rope call and kept for the others.
    const float* rotations(const int32_t* positions, int64_t n, const RopeTable& table) {
        const float* freq = inv_freq(table);
        const int64_t half = table.head_dim / 2;
        const bool batch_positions =
            has_layout_ && positions == layout_.positions && n <= dev_.n_tokens;
        if (!batch_positions || rope_table_for_ != table.head_dim) {
            const int32_t* pos = batch_positions ? dev_.positions : upload(positions, size_t(n));
            const int64_t rows = batch_positions ? dev_.n_tokens : n;
            launch_rope_table(rows, table.head_dim, pos, freq,
                              rope_cos_sin_.get(size_t(rows * half * 2)), stream_);
            check_launch("rope table");
            rope_table_for_ = batch_positions ? table.head_dim : 0;
        }
        return rope_cos_sin_.ptr;
    }

    const float* inv_freq(const RopeTable& table) {
        const size_t half = size_t(table.head_dim / 2);
        if (rope_host_.size() != half ||
            std::memcmp(rope_host_.data(), table.inv_freq, half * sizeof(float)) != 0) {
            rope_host_.assign(table.inv_freq, table.inv_freq + half);
            rope_table_for_ = 0;  // the batch's rotations were of the old frequencies
            float* d = rope_device_.get(half);
            check_cuda(cudaMemcpyAsync(d, rope_host_.data(), half * sizeof(float),
                                       cudaMemcpyHostToDevice, stream_),
                       "rope table");
            check_cuda(cudaStreamSynchronize(stream_), "rope table");
        }
        return rope_device_.ptr;
    }

    DeviceOptions options_;
    bool residual_in_gemm_ = true;  // matmul_add in the GEMM/GEMV (ENCORE_CUDA_RESIDUAL_IN_GEMM)
    cudaStream_t stream_ = nullptr;
    cudaEvent_t staged_ = nullptr;
    static constexpr size_t k_pinned_copy_min = size_t(64) << 10;
    static constexpr int k_copy_pieces = 4;
    PinnedArray results_pinned_;  // to_host's staging
    cudaEvent_t piece_copied_[k_copy_pieces] = {};
    PassTimeline timeline_;  // ENCORE_CUDA_TIMELINE=1: where a pass's time goes
    std::unique_ptr<Gemm> gemm_;
    Staging staging_;
    std::vector<Staging> retired_;
    size_t staging_used_ = 0;

    // Where an op writes the f32 values of its output `out`, given its 16-bit copy `out16`: null
    // (the kernel writes the copy only) when the caller said only matmuls against weights of the
    // copy's type read it (next_output_for_matmuls); the hint applies to this one op.
    float* f32_target(float* out, const void* out16) {
        const bool skip = out16 && output_for_ == activation16_;
        output_for_.reset();
        f32_skipped_ = skip ? out : nullptr;
        return skip ? nullptr : out;
    }
    // A broken promise of next_output_for_matmuls: f32 values of x read where only its 16-bit
    // copy was written.
    void check_f32_written(const float* x) const {
        if (x && x == f32_skipped_)
            fail(ErrorKind::internal,
                 "CUDA: the f32 values of an output said to be read only by 16-bit matmuls were "
                 "read");
    }

    BatchLayout layout_;
    bool has_layout_ = false;
    BatchDevice dev_;
    int32_t max_pos_ = 0, n_seqs_ = 0;
    int tables_block_size_ = 0;
    const AttentionTile* tiles_ = nullptr;
    int n_tiles_ = 0, tiles_tokens_ = 0;

    DeviceArray<uint16_t> x16_, x16_spare_;
    void* x16_at_ = nullptr;         // x16_ or x16_spare_: where the copy of x16_of_ is
    const float* x16_of_ = nullptr;  // whose 16-bit copy x16_at_ holds (see side16)
    int64_t x16_count_ = 0;
    DType activation16_ = DType::f32;     // 16-bit type of the last 16-bit weights multiplied
    std::optional<DType> output_for_;     // next_output_for_matmuls's hint for the next op
    const float* f32_skipped_ = nullptr;  // the output last written without its f32 values
    DeviceArray<float> attention_scratch_, rope_device_;
    DeviceArray<float> rope_cos_sin_;  // [tokens, head_dim / 2, 2] of the batch (launch_rope_table)
    int rope_table_for_ = 0;           // head_dim rope_cos_sin_ holds the batch's rotations for
    std::vector<float> rope_host_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const DeviceOptions& options) {
    return std::make_unique<CudaBackend>(options);
}

bool cuda_available(std::string* why) {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        if (why)
            *why = e != cudaSuccess ? std::string("no usable CUDA device: ") + cudaGetErrorString(e)
                                    : "no CUDA device";
        cudaGetLastError();
        return false;
    }
    return true;
}

}  // namespace encore

#endif  // ENCORE_HAVE_CUDA
