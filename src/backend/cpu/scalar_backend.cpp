// The scalar reference backend: every op as plain loops over f32, weights converted with the
// scalar functions of core/dtype.h, sums accumulated in f32 in index order, one thread. It is
// the oracle the optimized backends are tested against, so it favours obviousness over speed.
// K and V are stored in the pool's type with quantize_row (round to nearest even) and read back
// with dequantize_row; an f32 pool is plain copies.
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "core/error.h"

namespace encore {

namespace {

// Converts one row of a weight tensor to f32.
std::vector<float> row_f32(const TensorView& w, int64_t row) {
    std::vector<float> out(static_cast<size_t>(w.row_elems()));  // [row_elems]
    dequantize_row(w.dtype, w.row(row), out.data(), w.row_elems());
    return out;
}

// The address of element `index` of the pool (in elements of its storage type).
void* element(const KvLayerView& kv, int64_t index) {
    return static_cast<uint8_t*>(kv.pool) + index * kv_type_bytes(kv.type);
}

// The head_dim elements of the pool from `index` as f32: the pool itself when it is f32, else
// converted into `row`.
const float* load_row(const KvLayerView& kv, int64_t index, std::vector<float>& row) {
    if (kv.type == DType::f32) return static_cast<const float*>(kv.pool) + index;
    dequantize_row(kv.type, element(kv, index), row.data(), kv.head_dim);
    return row.data();
}

class ScalarBackend final : public Backend {
  public:
    std::string name() const override { return "scalar"; }

    void embed(const TensorView& table /*[vocab, d]*/, const int32_t* ids /*[n]*/, int64_t n,
               float* out /*[n, d]*/) override {
        const int64_t d = table.row_elems();
        for (int64_t i = 0; i < n; ++i) {  // all ids are checked before anything is written
            if (ids[i] < 0 || ids[i] >= table.n_rows())
                fail(ErrorKind::out_of_range, "token id {} is outside the vocabulary of {}", ids[i],
                     table.n_rows());
        }
        for (int64_t i = 0; i < n; ++i)
            dequantize_row(table.dtype, table.row(ids[i]), out + i * d, d);
    }

    void rms_norm(const float* x /*[n, d]*/, const TensorView& weight /*[d]*/, float eps, int64_t n,
                  float* out /*[n, d]*/) override {
        const int64_t d = weight.n_elements();
        const std::vector<float> w = row_f32(weight, 0);  // [d]
        for (int64_t i = 0; i < n; ++i) {
            const float* xi = x + i * d;
            float sum = 0.0f;
            for (int64_t j = 0; j < d; ++j) sum += xi[j] * xi[j];
            const float scale = 1.0f / std::sqrt(sum / float(d) + eps);
            for (int64_t j = 0; j < d; ++j) out[i * d + j] = xi[j] * scale * w[size_t(j)];
        }
    }

    void matmul(const float* x /*[n, k]*/, int64_t n, const TensorView& w /*[m, k]*/,
                const TensorView* bias /*[m] or null*/, float* y /*[n, m]*/) override {
        const int64_t m = w.n_rows(), k = w.row_elems();
        std::vector<float> b;  // [m]
        if (bias) b = row_f32(*bias, 0);
        for (int64_t j = 0; j < m; ++j) {
            const std::vector<float> wj = row_f32(w, j);  // [k]
            for (int64_t i = 0; i < n; ++i) {
                float sum = 0.0f;
                for (int64_t c = 0; c < k; ++c) sum += x[i * k + c] * wj[size_t(c)];
                y[i * m + j] = bias ? sum + b[size_t(j)] : sum;
            }
        }
    }

    void rope(float* x /*[n, n_heads, head_dim]*/, int64_t n, int n_heads,
              const int32_t* positions /*[n]*/, const RopeTable& table) override {
        const int hd = table.head_dim, half = hd / 2;
        for (int64_t i = 0; i < n; ++i) {
            for (int h = 0; h < n_heads; ++h) {
                float* v = x + (i * n_heads + h) * hd;
                for (int c = 0; c < half; ++c) {
                    const float angle = float(positions[i]) * table.inv_freq[c];
                    const float cs = std::cos(angle), sn = std::sin(angle);
                    const float a = v[c], b = v[c + half];
                    v[c] = a * cs - b * sn;
                    v[c + half] = b * cs + a * sn;
                }
            }
        }
    }

    void silu_mul(const float* gate, const float* up, int64_t n, float* out) override {
        for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
    }

    void add(float* x, const float* y, int64_t n) override {
        for (int64_t i = 0; i < n; ++i) x[i] += y[i];
    }

    void kv_store(const float* k /*[n, n_kv_heads, head_dim]*/,
                  const float* v /*[n, n_kv_heads, head_dim]*/, const KvLayerView& kv,
                  const BatchLayout& batch) override {
        const int hd = kv.head_dim;
        for (int64_t i = 0; i < batch.n_tokens; ++i) {
            const int32_t pos = batch.positions[i];
            const int32_t block = batch.block_tables[batch.seq_index[i]][pos / kv.block_size];
            const int slot = pos % kv.block_size;
            for (int h = 0; h < kv.n_kv_heads; ++h) {
                const int64_t src = (i * kv.n_kv_heads + h) * hd;
                quantize_row(kv.type, k + src, element(kv, kv.k_index(block, h) + slot * hd), hd);
                quantize_row(kv.type, v + src, element(kv, kv.v_index(block, h) + slot * hd), hd);
            }
        }
    }

    void attention(const float* q /*[n, n_heads, head_dim]*/, int n_heads, const KvLayerView& kv,
                   const BatchLayout& batch, float* out /*[n, n_heads * head_dim]*/) override {
        const int hd = kv.head_dim, group = n_heads / kv.n_kv_heads;
        const float scale = 1.0f / std::sqrt(float(hd));
        std::vector<float> scores;                        // [pos + 1]
        std::vector<float> row(static_cast<size_t>(hd));  // [head_dim] one K or V row as f32
        for (int64_t i = 0; i < batch.n_tokens; ++i) {
            const int32_t pos = batch.positions[i];
            const int32_t* blocks = batch.block_tables[batch.seq_index[i]];
            scores.resize(size_t(pos) + 1);
            for (int h = 0; h < n_heads; ++h) {
                const float* qh = q + (i * n_heads + h) * hd;
                const int kvh = h / group;
                float max = -INFINITY;
                for (int32_t p = 0; p <= pos; ++p) {
                    const float* kp = load_row(
                        kv, kv.k_index(blocks[p / kv.block_size], kvh) + (p % kv.block_size) * hd,
                        row);
                    float dot = 0.0f;
                    for (int c = 0; c < hd; ++c) dot += qh[c] * kp[c];
                    scores[size_t(p)] = dot * scale;
                    max = std::max(max, scores[size_t(p)]);
                }
                float sum = 0.0f;
                for (int32_t p = 0; p <= pos; ++p) {
                    scores[size_t(p)] = std::exp(scores[size_t(p)] - max);
                    sum += scores[size_t(p)];
                }
                float* oh = out + (i * n_heads + h) * hd;
                for (int c = 0; c < hd; ++c) oh[c] = 0.0f;
                for (int32_t p = 0; p <= pos; ++p) {
                    const float* vp = load_row(
                        kv, kv.v_index(blocks[p / kv.block_size], kvh) + (p % kv.block_size) * hd,
                        row);
                    const float wp = scores[size_t(p)] / sum;
                    for (int c = 0; c < hd; ++c) oh[c] += wp * vp[c];
                }
            }
        }
    }

    void gather_rows(const float* src /*[*, d]*/, int64_t d, const int32_t* rows, int64_t n,
                     float* dst /*[n, d]*/) override {
        for (int64_t i = 0; i < n; ++i)
            std::memcpy(dst + i * d, src + int64_t(rows[i]) * d, size_t(d) * 4);
    }
};

}  // namespace

std::unique_ptr<Backend> make_scalar_backend() {
    return std::make_unique<ScalarBackend>();
}

}  // namespace encore
