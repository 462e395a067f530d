// The Backend interface: every operation the forward pass needs, and nothing model-specific. The
// forward pass (model/forward.cpp) is written once against it. The scalar CPU backend is the
// reference every other backend is tested against, op by op and end to end.
//
// Pointers to activations and to the KV pool are backend memory, taken through allocate() (host
// memory for the CPU backends, device memory for CUDA); the forward pass and the pool never assume
// host memory. Weights come as TensorViews of host memory in their stored dtype: a device backend
// uploads each once, on first use, and converts inside the kernels. Host-side inputs of a call
// (the BatchLayout) are handed over once per forward pass through begin_batch(). Every backend must
// compute each output element in an order that does not depend on how many rows (tokens) are in
// the call or which thread computes it: results are then independent of batch composition and of
// how a sequence was split into calls.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/tensor.h"

namespace encore {

class ThreadPool;

// How the CPU backend multiplies activations with bf16 weights (other weight dtypes, and the scalar
// reference backend, compute the same either way):
// - standard: activations kept to 16 significant bits as two bf16 parts, hi + lo (relative error
//   at most 2^-16), two bf16-pair products per weight pair;
// - fast: activations rounded to one bf16 (8 significant bits, relative error at most 2^-9), one
//   bf16-pair product per weight pair, as llama.cpp computes; about twice the throughput in
//   prompt processing.
// Both are bitwise invariant to batch composition, call splits and thread counts.
enum class Precision { standard, fast };

// "default" -> standard, "fast" -> fast; an invalid_argument error naming `what` otherwise.
Precision parse_precision(const std::string& text, const std::string& what = "--precision");
const char* precision_name(Precision precision);  // "default" or "fast"

// Storage types of the KV pool: f32 (the default; the CPU backend's bitwise contract), f16 or
// bf16 (half the bytes; K and V rounded to nearest even when stored, widened to f32 when read).
// "f32" / "f16" / "bf16" -> the DType; an invalid_argument error naming `what` otherwise.
DType parse_kv_type(const std::string& text, const std::string& what = "--kv-type");
int64_t kv_type_bytes(DType type);  // bytes per stored element: 4 or 2

// Where the K and V of one layer instance live in the paged KV pool. The pool is one buffer of
// blocks; each block holds `block_size` consecutive positions of one sequence for every layer
// instance: block layout [n_instances][2 (k, v)][n_kv_heads][block_size][head_dim] elements of
// `type` (f32, f16 or bf16; offsets below count elements of that type).
struct KvLayerView {
    void* pool = nullptr;         // start of block 0
    DType type = DType::f32;      // storage type of the elements
    int64_t block_stride = 0;     // elements per block
    int64_t instance_offset = 0;  // elements from a block's start to this instance's K
    int n_kv_heads = 0;
    int head_dim = 0;
    int block_size = 0;

    // Element offsets from the pool's start of the [block_size, head_dim] K (V) run of a head.
    int64_t k_index(int32_t block, int head) const {
        return block * block_stride + instance_offset + int64_t(head) * block_size * head_dim;
    }
    int64_t v_index(int32_t block, int head) const {
        return k_index(block, head) + int64_t(n_kv_heads) * block_size * head_dim;
    }
    // The runs as arrays of T: float for an f32 pool, uint16_t (the bits) for f16 and bf16.
    template <typename T = float>
    T* k(int32_t block, int head) const {
        return static_cast<T*>(pool) + k_index(block, head);
    }
    template <typename T = float>
    T* v(int32_t block, int head) const {
        return static_cast<T*>(pool) + v_index(block, head);
    }
};

// The tokens of one forward call: each token belongs to a sequence and sits at a position in it.
// A token attends to positions 0..pos of its own sequence (causal), found through that sequence's
// block table (the token's own K/V is written before attention runs).
struct BatchLayout {
    int64_t n_tokens = 0;
    const int32_t* positions = nullptr;            // [n_tokens]
    const int32_t* seq_index = nullptr;            // [n_tokens] index into block_tables
    const int32_t* const* block_tables = nullptr;  // [n_seqs] -> [n_blocks of that sequence]
};

// RoPE frequencies, computed once per model (see model/rope.h).
struct RopeTable {
    const float* inv_freq = nullptr;  // [head_dim / 2]
    int head_dim = 0;
};

class Backend {
  public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;

    // Backend memory. The defaults are host memory (64-byte aligned, zeroed); a device backend
    // overrides all of them. copy() is within backend memory, to_host()/from_host() cross over.
    virtual bool host_memory() const { return true; }
    virtual void* allocate(size_t bytes);
    virtual void deallocate(void* p);
    virtual void copy(void* dst, const void* src, size_t bytes);
    virtual void to_host(void* host_dst, const void* src, size_t bytes);
    virtual void from_host(void* dst, const void* host_src, size_t bytes);
    // Memory that may outlive this backend, for results shared between engines, each with a
    // backend of its own (stem states: engine/stem.h). Host memory for the CPU backends; device
    // memory for a device backend, which every backend of the same memory_place() reads, writes
    // and copies as its own. Zeroed; freed when the last owner lets go.
    virtual std::shared_ptr<float> allocate_shared(size_t n_floats);
    // Where this backend's memory lies: "host", or a device ("cuda:0"). Backends of one place
    // share pointers to allocate_shared() memory.
    virtual std::string memory_place() const { return "host"; }
    // Returns once the work enqueued so far (copies included) is complete, so that another
    // backend may read what it wrote. The CPU backends finish each op before returning.
    virtual void synchronize() {}
    // Called by the forward pass before the ops of one call: the layout's pointers (host memory)
    // stay valid until the next begin_batch. A device backend copies them to the device here once
    // instead of in every op. The CPU backends need nothing.
    virtual void begin_batch(const BatchLayout& batch) {}
    // Free bytes of a device backend's memory (0 for host memory: see KvPool for the host).
    virtual int64_t memory_free() const { return 0; }
    // Tokens per forward pass when the engine's options name none: what a pass of this backend
    // needs to run its matmuls near their best speed without asking for much scratch memory.
    virtual int64_t default_pass_tokens() const { return 512; }

    // Says that the output of the next op (its `out`) is read only as the x of matmuls against
    // weights of `weight_type`: a backend that gives such matmuls a 16-bit copy of x written by
    // the op itself may then skip the f32 values. Applies to that one op; the CPU backends ignore
    // it.
    virtual void next_output_for_matmuls(DType weight_type) {}

    // out[i, :] = table[ids[i], :] as f32.
    virtual void embed(const TensorView& table /*[vocab, d]*/, const int32_t* ids /*[n]*/,
                       int64_t n, float* out /*[n, d]*/) = 0;

    // out[i, :] = x[i, :] / sqrt(mean(x[i, :]^2) + eps) * weight. out may equal x.
    virtual void rms_norm(const float* x /*[n, d]*/, const TensorView& weight /*[d]*/, float eps,
                          int64_t n, float* out /*[n, d]*/) = 0;

    // y = x · Wᵀ (+ bias): y[i, j] = sum_k x[i, k] * W[j, k] (+ bias[j]).
    virtual void matmul(const float* x /*[n, k]*/, int64_t n, const TensorView& w /*[m, k]*/,
                        const TensorView* bias /*[m] or null*/, float* y /*[n, m]*/) = 0;

    // Several products of the same x: outs[i].y = x · outs[i].wᵀ (+ outs[i].bias), every W with
    // k columns. Results are those of separate matmul calls, bit for bit; a backend may pack x
    // once and schedule all of them as one piece of work (q/k/v, gate/up).
    struct MatmulOut {
        const TensorView* w = nullptr;     // [m_i, k]
        const TensorView* bias = nullptr;  // [m_i] or null
        float* y = nullptr;                // [n, m_i]
    };
    virtual void matmuls(const float* x /*[n, k]*/, int64_t n, std::span<const MatmulOut> outs) {
        for (const MatmulOut& o : outs) matmul(x, n, *o.w, o.bias, o.y);
    }

    // A block's output projection added to the residual stream: residual += x · Wᵀ (+ bias),
    // the values of matmul() into `scratch` followed by add(residual, scratch). A backend may add
    // the products to the residual as it writes them (scratch then unused).
    virtual void matmul_add(const float* x /*[n, k]*/, int64_t n, const TensorView& w /*[m, k]*/,
                            const TensorView* bias /*[m] or null*/, float* residual /*[n, m]*/,
                            float* scratch /*[n, m]*/) {
        matmul(x, n, w, bias, scratch);
        add(residual, scratch, n * w.n_rows());
    }

    // The SwiGLU MLP's first half: gate = x · W_gateᵀ and up = x · W_upᵀ (as matmuls()), then
    // out = silu(gate) * up (as silu_mul()), the same values. gate and up are the call's scratch:
    // a backend may compute out without writing them. out may equal gate.
    virtual void swiglu(const float* x /*[n, d]*/, int64_t n, const TensorView& w_gate /*[f, d]*/,
                        const TensorView& w_up /*[f, d]*/, float* gate /*[n, f]*/,
                        float* up /*[n, f]*/, float* out /*[n, f]*/) {
        const MatmulOut gate_up[] = {{&w_gate, nullptr, gate}, {&w_up, nullptr, up}};
        matmuls(x, n, gate_up);
        silu_mul(gate, up, n * w_gate.n_rows(), out);
    }

    // Rotates pairs (i, i + head_dim/2) of every head by angle pos * inv_freq[i] (the HF
    // "rotate_half" convention), in place.
    virtual void rope(float* x /*[n, n_heads, head_dim]*/, int64_t n, int n_heads,
                      const int32_t* positions /*[n]*/, const RopeTable& table) = 0;

    // out = silu(gate) * up, elementwise over n values.
    virtual void silu_mul(const float* gate, const float* up, int64_t n, float* out) = 0;

    // x += y, elementwise over n values.
    virtual void add(float* x, const float* y, int64_t n) = 0;

    // Writes each token's k and v into its slot (block_tables[seq][pos / B], pos % B).
    virtual void kv_store(const float* k /*[n, n_kv_heads, head_dim]*/,
                          const float* v /*[n, n_kv_heads, head_dim]*/, const KvLayerView& kv,
                          const BatchLayout& batch) = 0;

    // RoPE on q and k (as rope() on each, in place), then k and v stored into the pool (as
    // kv_store()): the same values as the three calls in turn. A backend may do it in one pass.
    virtual void rope_kv_store(float* q /*[n, n_heads, head_dim]*/, int n_heads,
                               float* k /*[n, n_kv_heads, head_dim]*/,
                               const float* v /*[n, n_kv_heads, head_dim]*/, const RopeTable& table,
                               const KvLayerView& kv, const BatchLayout& batch) {
        rope(q, batch.n_tokens, n_heads, batch.positions, table);
        rope(k, batch.n_tokens, kv.n_kv_heads, batch.positions, table);
        kv_store(k, v, kv, batch);
    }

    // Causal attention of each token over positions 0..pos of its sequence, GQA: query head h
    // uses KV head h / (n_heads / n_kv_heads). Scale 1/sqrt(head_dim).
    virtual void attention(const float* q /*[n, n_heads, head_dim]*/, int n_heads,
                           const KvLayerView& kv, const BatchLayout& batch,
                           float* out /*[n, n_heads * head_dim]*/) = 0;

    // dst[i, :] = src[rows[i], :].
    virtual void gather_rows(const float* src /*[*, d]*/, int64_t d, const int32_t* rows, int64_t n,
                             float* dst /*[n, d]*/) = 0;
};

// A growable array of backend memory (contents are not kept when it grows).
template <typename T>
class BackendBuffer {
  public:
    BackendBuffer() = default;
    BackendBuffer(const BackendBuffer&) = delete;
    BackendBuffer& operator=(const BackendBuffer&) = delete;
    ~BackendBuffer() { reset(); }
    void resize(Backend& backend, size_t n) {
        if (n <= capacity_ && backend_ == &backend) return;
        reset();
        backend_ = &backend;
        data_ = static_cast<T*>(backend.allocate(std::max<size_t>(n, 1) * sizeof(T)));
        capacity_ = n;
    }
    void reset() {
        if (data_) backend_->deallocate(data_);
        data_ = nullptr;
        capacity_ = 0;
    }
    T* data() const { return data_; }

  private:
    Backend* backend_ = nullptr;
    T* data_ = nullptr;
    size_t capacity_ = 0;
};

// The scalar reference backend: plain loops, f32 accumulation in index order.
std::unique_ptr<Backend> make_scalar_backend();
// The optimized CPU backend (SIMD, multithreaded) on the given pool.
std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool,
                                          Precision precision = Precision::standard);

// The CUDA backend (backend/cuda/) on one GPU. Deterministic: every reduction order (GEMM
// algorithms included) fixed independently of the batch size, so an item's results are the same
// bits alone or inside any batch, at some speed cost. Fails with a one-line error when this build
// has no CUDA backend or no device is present.
struct DeviceOptions {
    int device = 0;
    bool deterministic = false;
};
std::unique_ptr<Backend> make_cuda_backend(const DeviceOptions& options);
// Whether this build has the CUDA backend and a CUDA device is present; `why` says what is missing.
bool cuda_available(std::string* why = nullptr);

}  // namespace encore
