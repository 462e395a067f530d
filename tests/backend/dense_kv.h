// Dense K/V (every position of every sequence in one array) and causal attention over it in
// double precision: the reference against which the backend tests check paged K/V stores and
// attention. `Shape` is any test shape with n_heads, n_kv_heads and head_dim.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/backend.h"
#include "test_util.h"

namespace encore::test {

// Per position of every sequence: [seq][pos][n_kv_heads][head_dim].
struct DenseKv {
    std::vector<std::vector<float>> k, v;
};

// Stores the K/V of the batch's tokens from the dense arrays with backend.kv_store.
template <typename Shape>
void store_dense(Backend& backend, const Batch& batch, const DenseKv& dense, const KvPool& pool,
                 int instance, const Shape& s) {
    const int64_t row = int64_t(s.n_kv_heads) * s.head_dim;
    std::vector<float> k(size_t(batch.size() * row)), v(size_t(batch.size() * row));
    for (int64_t i = 0; i < batch.size(); ++i) {
        const auto& dk = dense.k[size_t(batch.seq_index[size_t(i)])];
        const auto& dv = dense.v[size_t(batch.seq_index[size_t(i)])];
        const int64_t pos = batch.positions[size_t(i)];
        std::copy(dk.begin() + pos * row, dk.begin() + (pos + 1) * row, k.begin() + i * row);
        std::copy(dv.begin() + pos * row, dv.begin() + (pos + 1) * row, v.begin() + i * row);
    }
    backend.kv_store(k.data(), v.data(), pool.view(instance), batch.layout(pool));
}

// Dense causal attention in double precision: [n, n_heads * head_dim]. `stored` maps a K/V value
// to what the pool holds of it (the identity for f32 pools, a rounding for 16-bit ones).
template <typename Shape, typename Stored>
std::vector<float> dense_attention(const std::vector<float>& q, const Batch& batch,
                                   const DenseKv& dense, const Shape& s, Stored stored) {
    const int hd = s.head_dim, group = s.n_heads / s.n_kv_heads;
    std::vector<float> out(size_t(batch.size() * s.n_heads * hd));
    for (int64_t i = 0; i < batch.size(); ++i) {
        const auto& dk = dense.k[size_t(batch.seq_index[size_t(i)])];
        const auto& dv = dense.v[size_t(batch.seq_index[size_t(i)])];
        const int pos = batch.positions[size_t(i)];
        for (int h = 0; h < s.n_heads; ++h) {
            const int g = h / group;
            const float* qh = q.data() + (i * s.n_heads + h) * hd;
            std::vector<double> w(size_t(pos) + 1);
            double max = -1e300, sum = 0;
            for (int p = 0; p <= pos; ++p) {
                const float* kp = dk.data() + (int64_t(p) * s.n_kv_heads + g) * hd;
                double dot = 0;
                for (int c = 0; c < hd; ++c) dot += double(qh[c]) * stored(kp[c]);
                w[size_t(p)] = dot / std::sqrt(double(hd));
                max = std::max(max, w[size_t(p)]);
            }
            for (auto& x : w) sum += (x = std::exp(x - max));
            for (int c = 0; c < hd; ++c) {
                double acc = 0;
                for (int p = 0; p <= pos; ++p)
                    acc += w[size_t(p)] / sum *
                           stored(dv[size_t((int64_t(p) * s.n_kv_heads + g) * hd + c)]);
                out[size_t((i * s.n_heads + h) * hd + c)] = float(acc);
            }
        }
    }
    return out;
}

template <typename Shape>
std::vector<float> dense_attention(const std::vector<float>& q, const Batch& batch,
                                   const DenseKv& dense, const Shape& s) {
    return dense_attention(q, batch, dense, s, [](float x) { return x; });
}

}  // namespace encore::test
