// Launchers of the CUDA backend's kernels (the .cu files of this folder), callable from plain
// C++. Every pointer is device memory unless its comment says otherwise; every launcher enqueues
// on `stream` and returns without waiting. A kernel may start before the previous one on the
// stream has ended (launch.cuh) and read weights before it waits for it: the `w` of
// launch_rms_norm and of launch_gemv16, and launch_gemv16_swiglu's weights, must be memory no
// kernel writes. Each output element is computed by one thread, warp or block in an order fixed
// by the shapes of the model, never by the number of rows in the call: an item's results do not
// depend on the rest of its batch.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/dtype.h"

namespace encore::cuda {

// out[i, :] = table[ids[i], :] as f32; table in its stored dtype (f32, f16, bf16, q8_0, q4_0).
void launch_embed(const void* table, DType dtype, int64_t d, const int32_t* ids /*[n]*/, int64_t n,
                  float* out /*[n, d]*/, cudaStream_t stream);

// out[i, :] = x[i, :] / sqrt(mean(x[i, :]^2) + eps) * w; w [d] in its stored dtype; out may
// equal x. With out16, the same values rounded to t16 (f16 or bf16) too: the next GEMM's input,
// so that it needs no conversion pass (launch_silu_mul likewise). A null out writes the 16-bit
// copy only (so in launch_silu_mul, launch_gemv16_swiglu and AttentionOut::f32).
void launch_rms_norm(const float* x /*[n, d]*/, const void* w, DType w_dtype, float eps, int64_t n,
                     int64_t d, float* out /*[n, d] or null*/, void* out16 /*[n, d] or null*/,
                     DType t16, cudaStream_t stream);

// cos_sin[i, c] = (cos, sin) of positions[i] * inv_freq[c]: the rotations of a batch, computed
// once and read by every launch_rope of its layers.
void launch_rope_table(int64_t n, int head_dim, const int32_t* positions /*[n]*/,
                       const float* inv_freq /*[head_dim / 2]*/,
                       float* cos_sin /*[n, head_dim / 2, 2]*/, cudaStream_t stream);
// Rotates pairs (c, c + head_dim/2) of every head of token i by cos_sin[i, c], in place.
void launch_rope(float* x /*[n, n_heads, head_dim]*/, int64_t n, int n_heads, int head_dim,
                 const float* cos_sin /*[n, head_dim / 2, 2]*/, cudaStream_t stream);

void launch_silu_mul(const float* gate, const float* up, int64_t n, float* out /*[n] or null*/,
                     void* out16 /*[n] or null*/, DType t16, cudaStream_t stream);
void launch_add(float* x, const float* y, int64_t n, cudaStream_t stream);
// y[i, :] += bias; bias [m] in its stored dtype.
void launch_add_bias(float* y /*[n, m]*/, int64_t n, int64_t m, const void* bias, DType dtype,
                     cudaStream_t stream);
void launch_gather_rows(const float* src /*[*, d]*/, int64_t d, const int32_t* rows /*[n]*/,
                        int64_t n, float* dst /*[n, d]*/, cudaStream_t stream);
// f32 -> f16 or bf16 (round to nearest even), n values: the activations fed to the GEMMs.
void launch_convert(const float* x, int64_t n, DType to, void* out, cudaStream_t stream);

// Where the K/V of one layer instance live (see KvLayerView), in device terms. Element offsets
// are in elements of the pool's storage type.
struct KvDeviceView {
    void* pool = nullptr;
    DType type = DType::f32;  // f32, f16 or bf16
    int64_t block_stride = 0;
    int64_t instance_offset = 0;
    int n_kv_heads = 0;
    int head_dim = 0;
    int block_size = 0;
};

// The batch on the device: per token its position and sequence, per sequence its block table
// (flattened: blocks of sequence s start at table_offsets[s]).
struct BatchDevice {
    int64_t n_tokens = 0;
    const int32_t* positions = nullptr;      // [n_tokens]
    const int32_t* seq_index = nullptr;      // [n_tokens]
    const int32_t* table_offsets = nullptr;  // [n_seqs]
    const int32_t* tables = nullptr;         // [sum of blocks]
};

void launch_kv_store(const float* k /*[n, n_kv_heads, head_dim]*/,
                     const float* v /*[n, n_kv_heads, head_dim]*/, const KvDeviceView& kv,
                     const BatchDevice& batch, cudaStream_t stream);

// rope on q [n, n_heads, head_dim] and on k, then launch_kv_store of k and v, in one launch: the
// same bits as the three launches in turn. cos_sin as for launch_rope (of the batch's tokens).
void launch_rope_kv_store(float* q, int n_heads, float* k /*[n, n_kv_heads, head_dim]*/,
                          const float* v /*[n, n_kv_heads, head_dim]*/,
                          const float* cos_sin /*[n, head_dim / 2, 2]*/, const KvDeviceView& kv,
                          const BatchDevice& batch, cudaStream_t stream);

// Attention tiles: runs of consecutive tokens of one sequence, at most `tile_tokens` each.
struct AttentionTile {
    int32_t first_token;
    int32_t n_tokens;
    int32_t seq;
    int32_t max_pos;
};

// Positions per attention split: every query's keys are cut at multiples of this, whatever the
// batch, and the parts combined in order (split-K with splits fixed per position).
constexpr int k_attention_split = 256;

// Shape of the work of one attention call, fixed by the model (head_dim, GQA group).
struct AttentionPlan {
    int tile_tokens = 1;      // tokens per tile
    int heads_per_block = 1;  // query heads of one KV head in a block
    int head_chunks = 1;      // blocks per (tile, KV head)
};
// Query rows of a block of the tensor-core kernel (attention_mma.cu).
constexpr int k_attention_mma_rows = 128;
AttentionPlan attention_plan(int n_heads, int n_kv_heads, int head_dim, DType kv_type);

// Scratch floats attention needs: partial results of every split.
int64_t attention_scratch_floats(int64_t n_tokens, int n_heads, int head_dim, int max_pos);

// Whether attention_mma.cu's tensor-core kernel takes the call (pools stored in f16 or bf16,
// head_dim 64 or 128): then Q and the softmax weights are rounded to the pool's type for the
// tensor cores, with f32 accumulation.
bool attention_mma_fits(DType kv_type, int head_dim, const AttentionPlan& plan);
// Whether a call with `n_tiles` tiles combines the splits inside its blocks (enough blocks
// without splitting the keys: prefill) and so needs no scratch; the same bits either way.
bool attention_fused(DType kv_type, int n_kv_heads, int head_dim, const AttentionPlan& plan,
                     int n_tiles);
// Tests: the fewest blocks for which attention_fused says yes (default 7/8 of the
// multiprocessors; ENCORE_CUDA_FUSED_MIN_BLOCKS in the environment sets it, for comparisons).
void set_attention_fused_min_blocks(int blocks);
// Where attention writes its output [n, n_heads * head_dim]: in f32 and, when out16 is set, the
// same values rounded to out16_type (f16 or bf16) beside them, the 16-bit copy the next matmul
// takes as its input (the backend's side copy; rounded as launch_convert rounds).
struct AttentionOut {
    float* f32 = nullptr;  // null: the 16-bit copy only
    void* out16 = nullptr;
    DType out16_type = DType::f32;
};

// attention_mma.cu's launcher: fused, writes `out`; else writes the splits' (m, l) to `ml`
// [n, n_heads, max_splits, 2] and outputs to `part` [n, n_heads, max_splits, head_dim].
void launch_attention_mma(bool fused, const float* q, int n_heads, const KvDeviceView& kv,
                          const BatchDevice& batch, const AttentionTile* tiles, int n_tiles,
                          const AttentionPlan& plan, int max_splits, float* ml, float* part,
                          const AttentionOut& out, cudaStream_t stream);

// Causal attention over the paged KV (GQA: head h reads KV head h / (n_heads / n_kv_heads)),
// scale 1/sqrt(head_dim). `tiles` [n_tiles] device copy of the batch's tiles; `max_pos` the
// largest position in the batch.
void launch_attention(const float* q /*[n, n_heads, head_dim]*/, int n_heads,
                      const KvDeviceView& kv, const BatchDevice& batch, const AttentionTile* tiles,
                      int n_tiles, int max_pos, float* scratch, const AttentionOut& out,
                      cudaStream_t stream);

// y = x · Wᵀ for block-quantized W (q8_0, q4_0), dequantized in the kernel, f32 accumulation.
void launch_matmul_quant(const float* x /*[n, k]*/, int64_t n, const void* w, DType dtype,
                         int64_t m, int64_t k, float* y /*[n, m]*/, cudaStream_t stream);

// Decode GEMV (gemv.cu): y = x · Wᵀ for n <= 4 rows with W and x both bf16 or both f16, f32
// accumulation; gemv16_fits says whether it takes the shape. Several weights of the same x
// (every one with k columns) share a launch, up to k_max_gemv16_outs at a time.
bool gemv16_fits(int64_t n, int64_t k);
constexpr int k_max_gemv16_outs = 4;
struct Gemv16Out {
    const void* w = nullptr;  // [m, k] of dtype
    int64_t m = 0;
    float* y = nullptr;       // [n, m]
    bool accumulate = false;  // y += x · Wᵀ (y's value plus the sum, rounded once)
};
void launch_gemv16(const Gemv16Out* outs, int n_outs, DType dtype, int64_t k,
                   const void* x16 /*[n, k]*/, int64_t n, cudaStream_t stream);
// SwiGLU of the decode GEMV: out = silu(x · W_gateᵀ) * (x · W_upᵀ), the bits of launch_gemv16
// of both weights followed by launch_silu_mul (with out16 its 16-bit copy), in one launch that
// writes neither product.
void launch_gemv16_swiglu(const void* w_gate /*[m, k]*/, const void* w_up /*[m, k]*/, int64_t m,
                          DType dtype, int64_t k, const void* x16 /*[n, k]*/, int64_t n,
                          float* out /*[n, m] or null*/, void* out16 /*[n, m] or null*/, DType t16,
                          cudaStream_t stream);

// Fills n values of `out` (dtype f32, f16 or bf16) with uniform(-a, a) from a counter-based
// generator (for the benchmark's ceilings).
void launch_fill_random(void* out, DType dtype, int64_t n, float a, uint64_t seed,
                        cudaStream_t stream);

}  // namespace encore::cuda
