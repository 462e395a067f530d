// Elementwise and row kernels of the CUDA backend: embedding gather, RMSNorm, RoPE, SiLU·mul,
// residual add, bias, row gather, f32 -> 16-bit conversion for the GEMMs, K/V stores into the
// paged pool. Reductions (RMSNorm) run over one row in a block in a fixed order that depends
// only on the row length.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/activation.cuh"
#include "backend/cuda/device_dtype.cuh"
#include "backend/cuda/kernels.h"
#include "backend/cuda/launch.cuh"

namespace encore::cuda {

namespace {

constexpr int k_threads = 256;

unsigned blocks_for(int64_t n, int threads = k_threads) {
    return unsigned((n + threads - 1) / threads);
}

__global__ void embed_kernel(const void* table, DType dtype, int64_t d, const int32_t* ids,
                             float* out) {
    wait_for_previous_kernel();
    const int64_t i = blockIdx.y;
    const int64_t row = ids[i];
    for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < d;
         c += int64_t(gridDim.x) * blockDim.x)
        out[i * d + c] = load_element(table, dtype, row * d + c);
}

// The sum of every thread's `sum` over a block of Threads, by a fixed tree.
template <int Threads>
__device__ __forceinline__ float block_sum(float sum) {
    __shared__ float partial[Threads / 32];
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (Threads > 32) {
        if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
        __syncthreads();
        sum = 0.0f;
        for (int wi = 0; wi < Threads / 32; ++wi) sum += partial[wi];
    }
    return sum;
}

// One block of Threads per row. With Vec > 0 the row sits in registers: thread t holds the
// float4 groups t, t + Threads, ... (Vec of them, rows of d <= 4 * Threads * Vec, d % 4 == 0),
// loaded once, all loads in flight before the first use; otherwise (Vec == 0) a strided loop
// reads x twice (out may equal x: each thread writes only elements it has read). Each thread sums
// its own elements in index order, then a fixed tree over the block: the order depends only on d.
// The register path reads its weights before waiting for the previous kernel.
template <int Threads, int Vec>
__global__ void __launch_bounds__(Threads)
    rms_norm_kernel(const float* x, const void* w, DType w_dtype, float eps, int64_t d, float* out,
                    void* out16, DType t16) {
    const int64_t i = blockIdx.x;
    const float* xi = x + i * d;
    float sum = 0.0f;
    if constexpr (Vec > 0) {
        float4 v[Vec], wv[Vec];
        const int64_t groups = d / 4;
#pragma unroll
        for (int u = 0; u < Vec; ++u) {
            const int64_t c = 4 * (threadIdx.x + int64_t(u) * Threads);
            if (c < d)
                wv[u] =
                    make_float4(load_element(w, w_dtype, c), load_element(w, w_dtype, c + 1),
                                load_element(w, w_dtype, c + 2), load_element(w, w_dtype, c + 3));
        }
        wait_for_previous_kernel();
#pragma unroll
        for (int u = 0; u < Vec; ++u) {
            const int64_t g = threadIdx.x + int64_t(u) * Threads;
            v[u] = g < groups ? reinterpret_cast<const float4*>(xi)[g] : make_float4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < Vec; ++u)
            sum += v[u].x * v[u].x + v[u].y * v[u].y + v[u].z * v[u].z + v[u].w * v[u].w;
        const float scale = 1.0f / sqrtf(block_sum<Threads>(sum) / float(d) + eps);
#pragma unroll
        for (int u = 0; u < Vec; ++u) {
            const int64_t g = threadIdx.x + int64_t(u) * Threads;
            if (g >= groups) continue;
            const int64_t c = 4 * g;
            const float4 r = make_float4(v[u].x * scale * wv[u].x, v[u].y * scale * wv[u].y,
                                         v[u].z * scale * wv[u].z, v[u].w * scale * wv[u].w);
            if (out) reinterpret_cast<float4*>(out + i * d)[g] = r;
            if (out16) {
                store16(out16, t16, i * d + c, r.x), store16(out16, t16, i * d + c + 1, r.y);
                store16(out16, t16, i * d + c + 2, r.z), store16(out16, t16, i * d + c + 3, r.w);
            }
        }
    } else {
        wait_for_previous_kernel();
        for (int64_t c = threadIdx.x; c < d; c += Threads) {
            const float a = xi[c];
            sum += a * a;
        }
        const float scale = 1.0f / sqrtf(block_sum<Threads>(sum) / float(d) + eps);
        for (int64_t c = threadIdx.x; c < d; c += Threads) {
            const float v = xi[c] * scale * load_element(w, w_dtype, c);
            if (out) out[i * d + c] = v;
            if (out16) store16(out16, t16, i * d + c, v);
        }
    }
}

// Rotates the pair (*a, *b) by r = (cos, sin): the one rotation of rope_kernel and
// rope_kv_store_kernel, so that both give the same bits.
__device__ __forceinline__ void rotate_pair(float* a, float* b, float2 r) {
    const float x = *a, y = *b;
    *a = x * r.x - y * r.y;
    *b = y * r.x + x * r.y;
}

// cos_sin[i, c] = (cos, sin) of positions[i] * inv_freq[c], once per batch for every rope call.
__global__ void rope_table_kernel(int64_t n, int half, const int32_t* positions,
                                  const float* inv_freq, float2* cos_sin) {
    wait_for_previous_kernel();
    for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n * half;
         t += int64_t(gridDim.x) * blockDim.x) {
        const float angle = float(positions[t / half]) * inv_freq[t % half];
        float sn, cs;
        sincosf(angle, &sn, &cs);
        cos_sin[t] = make_float2(cs, sn);
    }
}

__global__ void rope_kernel(float* x, int64_t n, int n_heads, int head_dim, const float2* cos_sin) {
    wait_for_previous_kernel();
    const int half = head_dim / 2;
    const int64_t total = n * n_heads * half;
    for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
         t += int64_t(gridDim.x) * blockDim.x) {
        const int c = int(t % half);
        const int64_t row = t / half;  // token * n_heads + head
        const int64_t token = row / n_heads;
        float* v = x + row * head_dim;
        rotate_pair(v + c, v + c + half, cos_sin[token * half + c]);
    }
}

__global__ void silu_mul_kernel(const float* gate, const float* up, int64_t n, float* out,
                                void* out16, DType t16) {
    wait_for_previous_kernel();
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x) {
        const float g = gate[i];
        const float v = silu_mul_value(g, up[i]);
        if (out) out[i] = v;
        if (out16) store16(out16, t16, i, v);
    }
}

// The same per element, four at a time (n % 4 == 0, 16-byte aligned arrays).
__global__ void silu_mul4_kernel(const float4* gate, const float4* up, int64_t n4, float4* out,
                                 void* out16, DType t16) {
    wait_for_previous_kernel();
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n4;
         i += int64_t(gridDim.x) * blockDim.x) {
        const float4 g = gate[i], u = up[i];
        float4 v;
        v.x = silu_mul_value(g.x, u.x);
        v.y = silu_mul_value(g.y, u.y);
        v.z = silu_mul_value(g.z, u.z);
        v.w = silu_mul_value(g.w, u.w);
        if (out) out[i] = v;
        if (out16) {
            store16(out16, t16, 4 * i, v.x), store16(out16, t16, 4 * i + 1, v.y);
            store16(out16, t16, 4 * i + 2, v.z), store16(out16, t16, 4 * i + 3, v.w);
        }
    }
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
    wait_for_previous_kernel();
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x)
        x[i] += y[i];
}

__global__ void add_bias_kernel(float* y, int64_t n, int64_t m, const void* bias, DType dtype) {
    wait_for_previous_kernel();
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n * m;
         i += int64_t(gridDim.x) * blockDim.x)
        y[i] += load_element(bias, dtype, i % m);
}

__global__ void gather_rows_kernel(const float* src, int64_t d, const int32_t* rows, float* dst) {
    wait_for_previous_kernel();
    const int64_t i = blockIdx.y;
    const float* s = src + int64_t(rows[i]) * d;
    for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < d;
         c += int64_t(gridDim.x) * blockDim.x)
        dst[i * d + c] = s[c];
}

template <typename T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) {
    return v;
}
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) {
    return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

template <typename T>
__global__ void convert_kernel(const float* x, int64_t n, T* out) {
    wait_for_previous_kernel();
    for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
         i += int64_t(gridDim.x) * blockDim.x)
        out[i] = from_f32<T>(x[i]);
}

// Where element c of KV head h of token i goes in a layer's K: its slot (the block of the
// token's position in its sequence's table, the position in the block), in elements of the
// pool's type from the pool's start. Its V is n_kv_heads * block_size * head_dim further.
__device__ __forceinline__ int64_t kv_index(const KvDeviceView& kv, const BatchDevice& batch,
                                            int64_t i, int h, int c) {
    const int32_t pos = batch.positions[i];
    const int32_t block =
        batch.tables[batch.table_offsets[batch.seq_index[i]] + pos / kv.block_size];
    return int64_t(block) * kv.block_stride + kv.instance_offset +
           (int64_t(h) * kv.block_size + pos % kv.block_size) * kv.head_dim + c;
}

// One thread per (token, head, element) of K and of V.
template <typename T>
__global__ void kv_store_kernel(const float* k, const float* v, KvDeviceView kv,
                                BatchDevice batch) {
    wait_for_previous_kernel();
    const int hd = kv.head_dim;
    const int64_t per_token = int64_t(kv.n_kv_heads) * hd;
    const int64_t total = batch.n_tokens * per_token;
    T* pool = static_cast<T*>(kv.pool);
    for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
         t += int64_t(gridDim.x) * blockDim.x) {
        const int64_t i = t / per_token;
        const int h = int((t % per_token) / hd), c = int(t % hd);
        const int64_t k_at = kv_index(kv, batch, i, h, c);
        const int64_t v_at = k_at + int64_t(kv.n_kv_heads) * kv.block_size * hd;
        pool[k_at] = from_f32<T>(k[t]);
        pool[v_at] = from_f32<T>(v[t]);
    }
}

// RoPE on q and k and the store of k and v, in one pass: a thread per (token, head of q then of
// k, pair c), which rotates its pair in place as rope_kernel does and, for a head of k, stores
// the rotated pair and v's pair into the pool as kv_store_kernel does.
template <typename T>
__global__ void rope_kv_store_kernel(float* q, int n_heads, float* k, const float* v,
                                     const float2* cos_sin, KvDeviceView kv, BatchDevice batch) {
    wait_for_previous_kernel();
    const int hd = kv.head_dim, half = hd / 2, heads = n_heads + kv.n_kv_heads;
    const int64_t total = batch.n_tokens * heads * half;
    T* pool = static_cast<T*>(kv.pool);
    for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
         t += int64_t(gridDim.x) * blockDim.x) {
        const int c = int(t % half);
        const int64_t i = t / half / heads;  // token
        const int h = int(t / half % heads);
        const float2 r = cos_sin[i * half + c];
        if (h < n_heads) {
            float* row = q + (i * n_heads + h) * hd;
            rotate_pair(row + c, row + c + half, r);
            continue;
        }
        const int kh = h - n_heads;
        const int64_t at = (i * kv.n_kv_heads + kh) * hd;  // row of k and of v
        float* k_row = k + at;
        rotate_pair(k_row + c, k_row + c + half, r);
        const int64_t k_at = kv_index(kv, batch, i, kh, c);
        const int64_t v_at = k_at + int64_t(kv.n_kv_heads) * kv.block_size * hd;
        pool[k_at] = from_f32<T>(k_row[c]);
        pool[k_at + half] = from_f32<T>(k_row[c + half]);
        pool[v_at] = from_f32<T>(v[at + c]);
        pool[v_at + half] = from_f32<T>(v[at + c + half]);
    }
}

// rope_kv_store_kernel four pairs at a time: a thread per (token, head of q then of k, pairs c ..
// c + 3), with 16-byte loads and stores of both halves of its head and of v, and the pool's four
// elements of each half stored at once. Each pair sees the same operations as in
// rope_kv_store_kernel (rotate_pair, from_f32), so the bits are the same; index arithmetic runs
// once per four pairs and in 32 bits (the launcher takes this kernel only where the thread count
// and every offset fit, and every vector access is aligned).
template <typename T>
struct alignas(4 * sizeof(T)) Four {
    T e[4];
};
template <typename T>
__global__ void rope_kv_store4_kernel(float* q, int n_heads, float* k, const float* v,
                                      const float2* cos_sin, KvDeviceView kv, BatchDevice batch) {
    wait_for_previous_kernel();
    const int hd = kv.head_dim, half = hd / 2, quads = half / 4, heads = n_heads + kv.n_kv_heads;
    const uint32_t total = uint32_t(batch.n_tokens) * uint32_t(heads * quads);
    for (uint32_t t = blockIdx.x * blockDim.x + threadIdx.x; t < total;
         t += gridDim.x * blockDim.x) {
        const int c = int(t % uint32_t(quads)) * 4;
        const uint32_t row = t / uint32_t(quads);  // token * heads + head
        const uint32_t i = row / uint32_t(heads);  // token
        const int h = int(row % uint32_t(heads));
        const float4* rot = reinterpret_cast<const float4*>(cos_sin + size_t(i) * half + c);
        const float4 r01 = rot[0], r23 = rot[1];  // (cos, sin) of pairs c, c + 1; c + 2, c + 3
        float* head_row = h < n_heads ? q + (size_t(i) * n_heads + h) * hd
                                      : k + (size_t(i) * kv.n_kv_heads + (h - n_heads)) * hd;
        float4 a = *reinterpret_cast<const float4*>(head_row + c);
        float4 b = *reinterpret_cast<const float4*>(head_row + c + half);
        rotate_pair(&a.x, &b.x, make_float2(r01.x, r01.y));
        rotate_pair(&a.y, &b.y, make_float2(r01.z, r01.w));
        rotate_pair(&a.z, &b.z, make_float2(r23.x, r23.y));
        rotate_pair(&a.w, &b.w, make_float2(r23.z, r23.w));
        *reinterpret_cast<float4*>(head_row + c) = a;
        *reinterpret_cast<float4*>(head_row + c + half) = b;
        if (h < n_heads) continue;
        const int kh = h - n_heads;
        const float* v_row = v + (size_t(i) * kv.n_kv_heads + kh) * hd;
        const float4 va = *reinterpret_cast<const float4*>(v_row + c);
        const float4 vb = *reinterpret_cast<const float4*>(v_row + c + half);
        T* pool = static_cast<T*>(kv.pool);
        const int64_t k_at = kv_index(kv, batch, i, kh, c);
        const int64_t v_at = k_at + int64_t(kv.n_kv_heads) * kv.block_size * hd;
        auto store4 = [&](int64_t at, float4 x) {
            *reinterpret_cast<Four<T>*>(pool + at) =
                Four<T>{{from_f32<T>(x.x), from_f32<T>(x.y), from_f32<T>(x.z), from_f32<T>(x.w)}};
        };
        store4(k_at, a);
        store4(k_at + half, b);
        store4(v_at, va);
        store4(v_at + half, vb);
    }
}

// f(T{}) with T the element type of a KV pool of `type` (f16, bf16, else f32): the kernel
// instantiation a launcher takes.
template <typename F>
void with_kv_element(DType type, F&& f) {
    switch (type) {
        case DType::f16:
            return f(__half{});
        case DType::bf16:
            return f(__nv_bfloat16{});
        default:
            return f(float{});
    }
}

unsigned grid_cap(int64_t n) {
    const int64_t b = (n + k_threads - 1) / k_threads;
    return unsigned(b < 65535 ? (b > 0 ? b : 1) : 65535);
}

}  // namespace

void launch_embed(const void* table, DType dtype, int64_t d, const int32_t* ids, int64_t n,
                  float* out, cudaStream_t stream) {
    if (n == 0) return;
    const dim3 grid(blocks_for(d), unsigned(n));
    launch(embed_kernel, grid, k_threads, 0, stream, table, dtype, d, ids, out);
}

void launch_rms_norm(const float* x, const void* w, DType w_dtype, float eps, int64_t n, int64_t d,
                     float* out, void* out16, DType t16, cudaStream_t stream) {
    if (n == 0) return;
    const unsigned grid = unsigned(n);
    const bool vec = d % 4 == 0 && (uintptr_t(x) | uintptr_t(out)) % 16 == 0;
    if (d <= 256)
        launch(rms_norm_kernel<32, 0>, grid, 32, 0, stream, x, w, w_dtype, eps, d, out, out16, t16);
    else if (vec && d <= 4 * 256 * 4)
        launch(rms_norm_kernel<256, 4>, grid, 256, 0, stream, x, w, w_dtype, eps, d, out, out16,
               t16);
    else if (vec && d <= 4 * 256 * 8)
        launch(rms_norm_kernel<256, 8>, grid, 256, 0, stream, x, w, w_dtype, eps, d, out, out16,
               t16);
    else
        launch(rms_norm_kernel<256, 0>, grid, 256, 0, stream, x, w, w_dtype, eps, d, out, out16,
               t16);
}

void launch_rope_table(int64_t n, int head_dim, const int32_t* positions, const float* inv_freq,
                       float* cos_sin, cudaStream_t stream) {
    const int half = head_dim / 2;
    if (n * half == 0) return;
    launch(rope_table_kernel, grid_cap(n * half), k_threads, 0, stream, n, half, positions,
           inv_freq, reinterpret_cast<float2*>(cos_sin));
}

void launch_rope(float* x, int64_t n, int n_heads, int head_dim, const float* cos_sin,
                 cudaStream_t stream) {
    const int64_t total = n * n_heads * (head_dim / 2);
    if (total == 0) return;
    launch(rope_kernel, grid_cap(total), k_threads, 0, stream, x, n, n_heads, head_dim,
           reinterpret_cast<const float2*>(cos_sin));
}

void launch_silu_mul(const float* gate, const float* up, int64_t n, float* out, void* out16,
                     DType t16, cudaStream_t stream) {
    if (n == 0) return;
    if (n % 4 == 0 && (uintptr_t(gate) | uintptr_t(up) | uintptr_t(out)) % 16 == 0)
        launch(silu_mul4_kernel, grid_cap(n / 4), k_threads, 0, stream,
               reinterpret_cast<const float4*>(gate), reinterpret_cast<const float4*>(up), n / 4,
               reinterpret_cast<float4*>(out), out16, t16);
    else
        launch(silu_mul_kernel, grid_cap(n), k_threads, 0, stream, gate, up, n, out, out16, t16);
}

void launch_add(float* x, const float* y, int64_t n, cudaStream_t stream) {
    if (n == 0) return;
    launch(add_kernel, grid_cap(n), k_threads, 0, stream, x, y, n);
}

void launch_add_bias(float* y, int64_t n, int64_t m, const void* bias, DType dtype,
                     cudaStream_t stream) {
    if (n * m == 0) return;
    launch(add_bias_kernel, grid_cap(n * m), k_threads, 0, stream, y, n, m, bias, dtype);
}

void launch_gather_rows(const float* src, int64_t d, const int32_t* rows, int64_t n, float* dst,
                        cudaStream_t stream) {
    if (n == 0) return;
    const dim3 grid(blocks_for(d), unsigned(n));
    launch(gather_rows_kernel, grid, k_threads, 0, stream, src, d, rows, dst);
}

void launch_convert(const float* x, int64_t n, DType to, void* out, cudaStream_t stream) {
    if (n == 0) return;
    if (to == DType::bf16)
        launch(convert_kernel<__nv_bfloat16>, grid_cap(n), k_threads, 0, stream, x, n,
               static_cast<__nv_bfloat16*>(out));
    else
        launch(convert_kernel<__half>, grid_cap(n), k_threads, 0, stream, x, n,
               static_cast<__half*>(out));
}

void launch_kv_store(const float* k, const float* v, const KvDeviceView& kv,
                     const BatchDevice& batch, cudaStream_t stream) {
    const int64_t total = batch.n_tokens * kv.n_kv_heads * kv.head_dim;
    if (total == 0) return;
    with_kv_element(kv.type, [&](auto element) {
        launch(kv_store_kernel<decltype(element)>, grid_cap(total), k_threads, 0, stream, k, v, kv,
               batch);
    });
}

void launch_rope_kv_store(float* q, int n_heads, float* k, const float* v, const float* cos_sin,
                          const KvDeviceView& kv, const BatchDevice& batch, cudaStream_t stream) {
    const int64_t total = batch.n_tokens * (n_heads + kv.n_kv_heads) * (kv.head_dim / 2);
    if (total == 0) return;
    const auto* rot = reinterpret_cast<const float2*>(cos_sin);
    // Four pairs per thread where the head's halves split into fours, the element count fits 32
    // bits and every vector access is aligned (16 bytes for f32 rows, four pool elements), else
    // one pair.
    const uintptr_t addresses =
        uintptr_t(q) | uintptr_t(k) | uintptr_t(v) | uintptr_t(cos_sin) | uintptr_t(kv.pool);
    const int64_t elements = int64_t(batch.n_tokens) * (n_heads + kv.n_kv_heads) * kv.head_dim;
    const bool by_four = kv.head_dim % 8 == 0 && elements < (int64_t(1) << 31) &&
                         addresses % 16 == 0 && kv.block_stride % 4 == 0 &&
                         kv.instance_offset % 4 == 0;
    with_kv_element(kv.type, [&](auto element) {
        using T = decltype(element);
        if (by_four)
            launch(rope_kv_store4_kernel<T>, grid_cap(total / 4), k_threads, 0, stream, q, n_heads,
                   k, v, rot, kv, batch);
        else
            launch(rope_kv_store_kernel<T>, grid_cap(total), k_threads, 0, stream, q, n_heads, k, v,
                   rot, kv, batch);
    });
}

}  // namespace encore::cuda
