// Helpers shared by the backend tests: random tensors in every weight dtype, error measures, and a
// small paged KV pool with per-sequence block tables.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "backend/backend.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace encore::test {

inline std::vector<float> random_floats(std::mt19937& rng, int64_t n, float scale = 1.0f) {
    std::normal_distribution<float> normal(0.0f, scale);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v) x = normal(rng);
    return v;
}

// A weight matrix [rows, cols] stored in `dtype` (random normal values, quantized).
struct Weights {
    std::vector<uint8_t> bytes;
    TensorView view;
};

inline Weights random_weights(std::mt19937& rng, DType dtype, int64_t rows, int64_t cols,
                              float scale = 1.0f) {
    Weights w;
    const int64_t row_bytes = dtype_row_bytes(dtype, cols);
    w.bytes.resize(static_cast<size_t>(row_bytes * rows));
    for (int64_t r = 0; r < rows; ++r) {
        const std::vector<float> v = random_floats(rng, cols, scale);
        quantize_row(dtype, v.data(), w.bytes.data() + r * row_bytes, cols);
    }
    if (rows == 1 && cols > 0) {
        w.view = make_view(w.bytes.data(), dtype, {cols});
    } else {
        w.view = make_view(w.bytes.data(), dtype, {rows, cols});
    }
    return w;
}

// ‖out − ref‖ / ‖ref‖.
inline double rel_error(const std::vector<float>& out, const std::vector<float>& ref) {
    double num = 0, den = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        const double d = double(out[i]) - double(ref[i]);
        num += d * d;
        den += double(ref[i]) * double(ref[i]);
    }
    return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

// max |out − ref| / max |ref|.
inline double max_rel_error(const std::vector<float>& out, const std::vector<float>& ref) {
    double num = 0, den = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        num = std::max(num, std::fabs(double(out[i]) - double(ref[i])));
        den = std::max(den, std::fabs(double(ref[i])));
    }
    return den == 0 ? num : num / den;
}

// The error of `out` against `ref` relative to the scale of the terms summed into each element:
// max over elements of |out - ref| / mag, where mag[i] is the same sum over absolute values. This
// is the right measure for sums with cancellation (a dot product of random vectors is much smaller
// than its terms); float rounding gives about 1e-7 for any length.
inline double error_vs_magnitude(const std::vector<float>& out, const std::vector<float>& ref,
                                 const std::vector<float>& mag) {
    double worst = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        const double e = std::fabs(double(out[i]) - double(ref[i]));
        worst = std::max(worst, mag[i] > 0 ? e / double(mag[i]) : e);
    }
    return worst;
}

// A TensorView's rows converted to f32 absolute values: [rows, cols].
inline std::vector<float> abs_rows(const TensorView& w) {
    std::vector<float> out(static_cast<size_t>(w.n_elements()));
    for (int64_t r = 0; r < w.n_rows(); ++r)
        dequantize_row(w.dtype, w.row(r), out.data() + r * w.row_elems(), w.row_elems());
    for (auto& v : out) v = std::fabs(v);
    return out;
}

// The sums of |terms| of x · Wᵀ (+ bias): mag[i, j] = |bias[j]| + sum_k |x[i, k]| * |W[j, k]|, in
// double, for error_vs_magnitude. x [n, k]; bias an f32 [m] or null.
inline std::vector<float> term_magnitudes(const std::vector<float>& x, int64_t n,
                                          const TensorView& w, const TensorView* bias = nullptr) {
    const int64_t m = w.n_rows(), k = w.row_elems();
    const std::vector<float> wa = abs_rows(w);
    std::vector<float> mag(static_cast<size_t>(n * m));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < m; ++j) {
            double s = bias ? std::fabs(double(static_cast<const float*>(bias->data)[j])) : 0.0;
            for (int64_t q = 0; q < k; ++q)
                s += std::fabs(double(x[size_t(i * k + q)])) * wa[size_t(j * k + q)];
            mag[size_t(i * m + j)] = float(s);
        }
    return mag;
}

// The CPU backend's bf16 matmuls take x to 16 significant bits, as two bf16 parts (matmul.h): a
// result may differ from the exact f32 one by this much of the sum of |terms|.
constexpr double k_bf16_x_precision = 1.0 / 65536;

// x rounded to what two bf16 parts hold: hi = bf16(x), then hi + bf16(x - hi). On such values
// the bf16 matmuls use x exactly, and differ from the scalar backend only by f32 rounding.
inline std::vector<float> to_bf16_pair_precision(std::vector<float> x) {
    for (auto& v : x) {
        const float hi = bf16_to_f32(f32_to_bf16(v));
        v = hi + bf16_to_f32(f32_to_bf16(v - hi));
    }
    return x;
}

inline bool bitwise_equal(const float* a, const float* b, size_t n) {
    return std::memcmp(a, b, n * sizeof(float)) == 0;
}

// Backend::matmuls (one x, several weights: q/k/v, gate/up) on each backend, over weights of
// mixed dtypes (two packings of x in one call) with biases on two of them, at 1, 5 and 64 rows of
// x of width k: each output bitwise what a separate matmul call gives.
inline void expect_matmuls_match_separate_calls(std::mt19937& rng, int64_t k,
                                                std::initializer_list<Backend*> backends) {
    const DType types[] = {DType::bf16, DType::q8_0, DType::f16, DType::bf16};
    const int64_t rows[] = {67, 13, 300, 5};
    std::vector<Weights> ws, bs;
    for (int o = 0; o < 4; ++o) {
        ws.push_back(random_weights(rng, types[o], rows[o], k));
        bs.push_back(random_weights(rng, DType::f16, 1, rows[o]));
    }
    for (int64_t n : {1, 5, 64}) {
        const std::vector<float> x = random_floats(rng, n * k);
        for (Backend* be : backends) {
            SCOPED_TRACE(::testing::Message() << be->name() << " n=" << n);
            std::vector<std::vector<float>> sep(4), fused(4);
            std::vector<Backend::MatmulOut> outs;
            for (size_t o = 0; o < 4; ++o) {
                const TensorView* b = o % 2 ? &bs[o].view : nullptr;
                sep[o].assign(size_t(n * rows[o]), 0.0f);
                fused[o].assign(size_t(n * rows[o]), NAN);
                be->matmul(x.data(), n, ws[o].view, b, sep[o].data());
                outs.push_back({&ws[o].view, b, fused[o].data()});
            }
            be->matmuls(x.data(), n, outs);
            for (size_t o = 0; o < 4; ++o)
                EXPECT_TRUE(bitwise_equal(sep[o].data(), fused[o].data(), sep[o].size()))
                    << "output " << o;
        }
    }
}

// A paged KV pool with `n_instances` layer instances; sequences get shuffled, non-contiguous
// block ids. Elements of `type` (f32, f16 or bf16) held in `data` (as floats: two 16-bit
// elements per float for f16 / bf16).
struct KvPool {
    int n_instances = 2, n_kv_heads = 0, head_dim = 0, block_size = 0;
    int64_t n_blocks = 0;
    DType type = DType::f32;
    std::vector<float> data;                   // [n_blocks, block_stride] elements of `type`
    std::vector<std::vector<int32_t>> tables;  // [n_seqs][blocks of the sequence]
    std::vector<const int32_t*> table_ptrs;    // [n_seqs]

    KvPool(int n_kv_heads_, int head_dim_, int block_size_, int64_t n_blocks_, std::mt19937& rng,
           DType type_ = DType::f32)
        : n_kv_heads(n_kv_heads_),
          head_dim(head_dim_),
          block_size(block_size_),
          n_blocks(n_blocks_),
          type(type_) {
        // garbage where nothing was stored
        data = random_floats(rng, (n_blocks * block_stride() * kv_type_bytes(type) + 3) / 4);
    }
    int64_t block_stride() const {
        return int64_t(n_instances) * 2 * n_kv_heads * block_size * head_dim;
    }
    KvLayerView view(int instance) const {
        KvLayerView kv;
        kv.pool = const_cast<float*>(data.data());
        kv.type = type;
        kv.block_stride = block_stride();
        kv.instance_offset = int64_t(instance) * 2 * n_kv_heads * block_size * head_dim;
        kv.n_kv_heads = n_kv_heads;
        kv.head_dim = head_dim;
        kv.block_size = block_size;
        return kv;
    }
    // Element `index` of the pool as f32.
    float element(int64_t index) const {
        if (type == DType::f32) return data[size_t(index)];
        float out;
        dequantize_row(type, reinterpret_cast<const uint8_t*>(data.data()) + index * 2, &out, 1);
        return out;
    }
    // Gives each sequence enough blocks for `lengths[s]` positions, from a shuffled id list.
    void assign(const std::vector<int>& lengths, std::mt19937& rng) {
        std::vector<int32_t> ids(static_cast<size_t>(n_blocks));
        std::iota(ids.begin(), ids.end(), 0);
        std::shuffle(ids.begin(), ids.end(), rng);
        size_t next = 0;
        tables.assign(lengths.size(), {});
        for (size_t s = 0; s < lengths.size(); ++s) {
            const int n = (lengths[s] + block_size - 1) / block_size;
            for (int b = 0; b < n; ++b) {
                if (next >= ids.size()) throw std::runtime_error("test KV pool too small");
                tables[s].push_back(ids[next++]);
            }
        }
        table_ptrs.clear();
        for (auto& t : tables) table_ptrs.push_back(t.data());
    }
};

// Tokens of a batch: (sequence, position) pairs with the arrays BatchLayout points to.
struct Batch {
    std::vector<int32_t> positions, seq_index;
    void add(int32_t seq, int32_t pos) {
        seq_index.push_back(seq);
        positions.push_back(pos);
    }
    int64_t size() const { return int64_t(positions.size()); }
    BatchLayout layout(const KvPool& pool) const {
        BatchLayout b;
        b.n_tokens = size();
        b.positions = positions.data();
        b.seq_index = seq_index.data();
        b.block_tables = pool.table_ptrs.data();
        return b;
    }
};

// The backends every op test compares: the scalar reference and the SIMD backend on one and on
// two threads (results must not depend on the thread count).
class BackendFixture : public ::testing::Test {
  protected:
    ThreadPool pool1{1};
    ThreadPool pool2{2};
    std::unique_ptr<Backend> scalar = make_scalar_backend();
    std::unique_ptr<Backend> cpu1 = make_cpu_backend(pool1);
    std::unique_ptr<Backend> cpu2 = make_cpu_backend(pool2);
};

}  // namespace encore::test
