// The forward pass (see forward.h). Shapes: n = tokens in the call, d = n_embd, f = n_ff,
// q = n_heads * head_dim, kv = n_kv_heads * head_dim.
#include "model/forward.h"

#include <algorithm>

#include "core/error.h"
#include "model/rope.h"

namespace encore {

void forward(const Model& model, const LayerPlan& plan, Backend& backend, KvPool& kv,
             ForwardScratch& s, const ForwardInput& in, float* logits) {
    const ModelSpec& spec = model.spec();
    const Weights& w = model.weights();
    const int64_t n = int64_t(in.tokens.size());
    const int64_t d = spec.n_embd, f = spec.n_ff, qd = spec.q_dim(), kvd = spec.kv_dim();
    const float eps = float(spec.rms_norm_eps);
    ENCORE_ASSERT(plan.n_instances() == kv.shape().n_instances);
    if (n == 0) return;

    s.x.resize(backend, size_t(n * d));         // [n, d] residual stream
    s.h.resize(backend, size_t(n * d));         // [n, d] normed input of a block
    s.q.resize(backend, size_t(n * qd));        // [n, n_heads, head_dim]
    s.kv.resize(backend, size_t(2 * n * kvd));  // K then V: [2, n, n_kv_heads, head_dim]
    float* const k_rows = s.kv.data();          // [n, n_kv_heads, head_dim]
    float* const v_rows = k_rows + n * kvd;     // [n, n_kv_heads, head_dim]
    s.attn.resize(backend, size_t(n * qd));     // [n, q]
    s.gate.resize(backend, size_t(n * f));      // [n, f]
    s.up.resize(backend, size_t(n * f));        // [n, f]
    if (s.inv_freq.empty()) s.inv_freq = rope_inv_freq(spec);
    const RopeTable rope{s.inv_freq.data(), int(spec.head_dim)};

    BatchLayout layout;
    layout.n_tokens = n;
    layout.positions = in.positions.data();
    layout.seq_index = in.seq_index.data();
    layout.block_tables = in.block_tables.data();
    backend.begin_batch(layout);

    // The op that comes next writes an output read only by matmuls against `weights`: where they
    // share one type, the backend may keep only the 16-bit copy they read.
    auto output_for = [&](std::initializer_list<const TensorView*> weights) {
        const DType type = (*weights.begin())->dtype;
        for (const TensorView* t : weights)
            if (t->dtype != type) return;
        backend.next_output_for_matmuls(type);
    };

    const int start = in.start_instance;
    ENCORE_ASSERT(start >= 0 && start <= plan.n_instances());
    if (start == 0) {
        backend.embed(w.tok_embd, in.tokens.data(), n, s.x.data());
    } else {  // stem reuse: the residual entering `start` and the skipped instances' K/V given
        ENCORE_ASSERT(in.residual_in && in.stem_k.size() >= size_t(start) &&
                      in.stem_v.size() >= size_t(start));
        backend.copy(s.x.data(), in.residual_in, size_t(n * d) * sizeof(float));
        for (int ii = 0; ii < start; ++ii)
            backend.kv_store(in.stem_k[size_t(ii)], in.stem_v[size_t(ii)], kv.layer_view(ii),
                             layout);
    }
    for (int ii = start; ii < plan.n_instances(); ++ii) {
        const LayerWeights& L = w.layers[size_t(plan.layers[size_t(ii)])];
        const KvLayerView kv_view = kv.layer_view(ii);

        // Attention block. The norm of its input was taken at the end of the previous instance,
        // except in the first instance computed.
        if (ii == start) {
            output_for({&L.wq, &L.wk, &L.wv});
            backend.rms_norm(s.x.data(), L.attn_norm, eps, n, s.h.data());
        }
        const Backend::MatmulOut qkv[] = {{&L.wq, L.bq.n_dims ? &L.bq : nullptr, s.q.data()},
                                          {&L.wk, L.bk.n_dims ? &L.bk : nullptr, k_rows},
                                          {&L.wv, L.bv.n_dims ? &L.bv : nullptr, v_rows}};
        backend.matmuls(s.h.data(), n, qkv);
        if (spec.qk_norm) {  // per-head RMSNorm: rows of head_dim
            backend.rms_norm(s.q.data(), L.q_norm, eps, n * spec.n_heads, s.q.data());
            backend.rms_norm(k_rows, L.k_norm, eps, n * spec.n_kv_heads, k_rows);
        }
        backend.rope_kv_store(s.q.data(), int(spec.n_heads), k_rows, v_rows, rope, kv_view, layout);
        if (in.tap) in.tap(ii, s.x.data(), k_rows, v_rows);
        output_for({&L.wo});
        backend.attention(s.q.data(), int(spec.n_heads), kv_view, layout, s.attn.data());
        backend.matmul_add(s.attn.data(), n, L.wo, L.bo.n_dims ? &L.bo : nullptr, s.x.data(),
                           s.h.data());  // the residual add

        // MLP block (SwiGLU).
        output_for({&L.w_gate, &L.w_up});
        backend.rms_norm(s.x.data(), L.ffn_norm, eps, n, s.h.data());
        output_for({&L.w_down});
        backend.swiglu(s.h.data(), n, L.w_gate, L.w_up, s.gate.data(), s.up.data(), s.gate.data());
        backend.matmul_add(s.gate.data(), n, L.w_down, nullptr, s.x.data(), s.h.data());
        if (ii + 1 < plan.n_instances()) {  // the next instance's norm
            const LayerWeights& next = w.layers[size_t(plan.layers[size_t(ii + 1)])];
            output_for({&next.wq, &next.wk, &next.wv});
            backend.rms_norm(s.x.data(), next.attn_norm, eps, n, s.h.data());
        }
    }

    if (in.tap) in.tap(plan.n_instances(), s.x.data(), nullptr, nullptr);

    // Output head, only for the rows whose logits are wanted.
    const int64_t n_rows = int64_t(in.logit_rows.size());
    if (n_rows == 0) return;
    s.rows.resize(backend, size_t(n_rows * d));  // [n_rows, d]
    backend.gather_rows(s.x.data(), d, in.logit_rows.data(), n_rows, s.rows.data());
    output_for({&w.output});
    backend.rms_norm(s.rows.data(), w.out_norm, eps, n_rows, s.rows.data());
    if (backend.host_memory()) {
        backend.matmul(s.rows.data(), n_rows, w.output, nullptr, logits);  // [n_rows, vocab]
        return;
    }
    const size_t n_logits = size_t(n_rows * spec.vocab_size);
    s.logits.resize(backend, n_logits);
    backend.matmul(s.rows.data(), n_rows, w.output, nullptr, s.logits.data());
    backend.to_host(logits, s.logits.data(), n_logits * sizeof(float));
}

}  // namespace encore
