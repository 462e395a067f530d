// The optimized CPU backend: the Backend interface on top of the SIMD kernels of this folder
// (matmul*.cpp, attention.cpp, elementwise.cpp), multithreaded on a ThreadPool. It owns only the
// scratch buffers the kernels reuse between calls.
#include <memory>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/attention.h"
#include "backend/cpu/elementwise.h"
#include "backend/cpu/matmul.h"
#include "core/thread_pool.h"

namespace encore {

namespace {

class CpuBackend final : public Backend {
  public:
    CpuBackend(ThreadPool& pool, Precision precision) : pool_(pool), precision_(precision) {}

    std::string name() const override { return "cpu"; }

    void embed(const TensorView& table /*[vocab, d]*/, const int32_t* ids /*[n]*/, int64_t n,
               float* out /*[n, d]*/) override {
        cpu::embed(pool_, table, ids, n, out);
    }

    void rms_norm(const float* x /*[n, d]*/, const TensorView& weight /*[d]*/, float eps, int64_t n,
                  float* out /*[n, d]*/) override {
        cpu::rms_norm(pool_, norm_weight_, x, weight, eps, n, out);
    }

    void matmul(const float* x /*[n, k]*/, int64_t n, const TensorView& w /*[m, k]*/,
                const TensorView* bias /*[m] or null*/, float* y /*[n, m]*/) override {
        cpu::matmul(pool_, matmul_scratch_, precision_, x, n, w, bias, y);
    }

    void matmuls(const float* x /*[n, k]*/, int64_t n, std::span<const MatmulOut> outs) override {
        cpu::matmuls(pool_, matmul_scratch_, precision_, x, n, outs);
    }

    void rope(float* x /*[n, n_heads, head_dim]*/, int64_t n, int n_heads,
              const int32_t* positions /*[n]*/, const RopeTable& table) override {
        cpu::rope(pool_, x, n, n_heads, positions, table);
    }

    void silu_mul(const float* gate, const float* up, int64_t n, float* out) override {
        cpu::silu_mul(pool_, gate, up, n, out);
    }

    void add(float* x, const float* y, int64_t n) override { cpu::add(pool_, x, y, n); }

    void kv_store(const float* k /*[n, n_kv_heads, head_dim]*/,
                  const float* v /*[n, n_kv_heads, head_dim]*/, const KvLayerView& kv,
                  const BatchLayout& batch) override {
        cpu::kv_store(pool_, k, v, kv, batch);
    }

    void attention(const float* q /*[n, n_heads, head_dim]*/, int n_heads, const KvLayerView& kv,
                   const BatchLayout& batch, float* out /*[n, n_heads * head_dim]*/) override {
        cpu::attention(pool_, attention_scratch_, q, n_heads, kv, batch, out);
    }

    void gather_rows(const float* src /*[*, d]*/, int64_t d, const int32_t* rows, int64_t n,
                     float* dst /*[n, d]*/) override {
        cpu::gather_rows(src, d, rows, n, dst);
    }

  private:
    ThreadPool& pool_;
    Precision precision_;  // of matmuls with bf16 weights
    cpu::MatmulScratch matmul_scratch_;
    std::vector<float> norm_weight_;  // [d]
    cpu::AttentionScratch attention_scratch_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(ThreadPool& pool, Precision precision) {
    return std::make_unique<CpuBackend>(pool, precision);
}

}  // namespace encore
