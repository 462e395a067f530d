// Causal attention over the paged KV pool, and the KV store that fills it. Work is split into
// items (token, KV head, group of up to k_heads query heads sharing that KV head); one thread
// computes an item, in an order that depends only on the token's position and head_dim:
//   scores[p] = (q · k_p, lanes over head_dim in one accumulator, fixed lane reduction) * scale,
//   softmax with the max subtracted and the sum accumulated with positions in fixed lanes,
//   out = sum over p, in increasing order, of w_p * v_p (lanes over head_dim).
// So a token's output is bitwise the same whichever other tokens share the call, however its
// sequence was split into calls, and on any number of threads.
#include "backend/cpu/attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "backend/cpu/simd.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "hwy/contrib/math/math-inl.h"

namespace encore::cpu {

namespace {

constexpr int k_heads = 4;  // query heads per work item (they share the K and V loads)

struct Item {
    int64_t token;
    int kv_head;
    int h0, n_h;  // query heads [h0, h0 + n_h)
};

// One vector of head_dim lanes [c, c + lanes): full, or masked at the end of head_dim.
HWY_INLINE VF load_hd(const float* p, int64_t c, int64_t hd) {
    const DF df;
    const int64_t nl = hn::Lanes(df);
    if (c + nl <= hd) return hn::LoadU(df, p + c);
    return hn::MaskedLoad(hn::FirstN(df, size_t(hd - c)), df, p + c);
}

// scores[h][p] = q_h · k_p * scale for p in [0, n_pos), NH query heads.
template <int NH>
void scores_kernel(const float* const* qh, const KvLayerView& kv, const int32_t* blocks,
                   int kv_head, int64_t n_pos, float scale, float* const* scores) {
    const DF df;
    const int64_t nl = hn::Lanes(df), hd = kv.head_dim, bs = kv.block_size;
    for (int64_t p0 = 0; p0 < n_pos; p0 += bs) {
        const float* kb = kv.k(blocks[p0 / bs], kv_head);
        const int64_t n_in_block = std::min(bs, n_pos - p0);
        for (int64_t s = 0; s < n_in_block; ++s) {
            const float* kp = kb + s * hd;
            VF acc[NH];
            for (int h = 0; h < NH; ++h) acc[h] = hn::Zero(df);
            for (int64_t c = 0; c < hd; c += nl) {
                const VF kv_c = load_hd(kp, c, hd);
                for (int h = 0; h < NH; ++h)
                    acc[h] = hn::MulAdd(load_hd(qh[h], c, hd), kv_c, acc[h]);
            }
            for (int h = 0; h < NH; ++h)
                scores[h][p0 + s] = hn::GetLane(hn::SumOfLanes(df, acc[h])) * scale;
        }
    }
}

// In place: scores[p] = exp(scores[p] - max) / sum for p in [0, n_pos); scores is padded to
// whole vectors.
void softmax(float* scores, int64_t n_pos) {
    const DF df;
    const int64_t nl = hn::Lanes(df);
    VF max_v = hn::Set(df, -INFINITY);
    int64_t p = 0;
    for (; p + nl <= n_pos; p += nl) max_v = hn::Max(max_v, hn::LoadU(df, scores + p));
    const auto tail = hn::FirstN(df, size_t(n_pos - p));
    if (p < n_pos) max_v = hn::Max(max_v, hn::IfThenElse(tail, hn::LoadU(df, scores + p), max_v));
    const VF max = hn::Set(df, hn::GetLane(hn::MaxOfLanes(df, max_v)));
    VF sum_v = hn::Zero(df);
    for (p = 0; p + nl <= n_pos; p += nl) {
        const VF e = hn::Exp(df, hn::Sub(hn::LoadU(df, scores + p), max));
        hn::StoreU(e, df, scores + p);
        sum_v = hn::Add(sum_v, e);
    }
    if (p < n_pos) {
        const VF e = hn::IfThenElseZero(tail, hn::Exp(df, hn::Sub(hn::LoadU(df, scores + p), max)));
        hn::StoreU(e, df, scores + p);
        sum_v = hn::Add(sum_v, e);
    }
    const VF sum = hn::Set(df, hn::GetLane(hn::SumOfLanes(df, sum_v)));
    for (p = 0; p < n_pos; p += nl)
        hn::StoreU(hn::Div(hn::LoadU(df, scores + p), sum), df, scores + p);
}

// out_h[c0 : c0 + NV lanes] = sum_p w_h[p] * v_p[c0 : ...], NH heads, NV vectors of head_dim.
template <int NH, int NV>
void values_kernel(const float* const* w, const KvLayerView& kv, const int32_t* blocks, int kv_head,
                   int64_t n_pos, int64_t c0, float* const* out) {
    const DF df;
    const int64_t nl = hn::Lanes(df), hd = kv.head_dim, bs = kv.block_size;
    VF acc[NH][NV];
    for (int h = 0; h < NH; ++h)
        for (int v = 0; v < NV; ++v) acc[h][v] = hn::Zero(df);
    for (int64_t p0 = 0; p0 < n_pos; p0 += bs) {
        const float* vb = kv.v(blocks[p0 / bs], kv_head);
        const int64_t n_in_block = std::min(bs, n_pos - p0);
        for (int64_t s = 0; s < n_in_block; ++s) {
            const float* vp = vb + s * hd;
            VF vv[NV];
            for (int v = 0; v < NV; ++v) vv[v] = load_hd(vp, c0 + v * nl, hd);
            for (int h = 0; h < NH; ++h) {
                const VF wp = hn::Set(df, w[h][p0 + s]);
                for (int v = 0; v < NV; ++v) acc[h][v] = hn::MulAdd(wp, vv[v], acc[h][v]);
            }
        }
    }
    for (int h = 0; h < NH; ++h) {
        for (int v = 0; v < NV; ++v) {
            const int64_t c = c0 + v * nl;
            if (c + nl <= hd) {
                hn::StoreU(acc[h][v], df, out[h] + c);
            } else {
                hn::BlendedStore(acc[h][v], hn::FirstN(df, size_t(hd - c)), df, out[h] + c);
            }
        }
    }
}

template <int NH>
void values_heads(const float* const* w, const KvLayerView& kv, const int32_t* blocks, int kv_head,
                  int64_t n_pos, float* const* out) {
    const int64_t nl = hn::Lanes(DF()), hd = kv.head_dim;
    int64_t c = 0;
    for (; c + 4 * nl <= hd; c += 4 * nl)
        values_kernel<NH, 4>(w, kv, blocks, kv_head, n_pos, c, out);
    for (; c < hd; c += nl) values_kernel<NH, 1>(w, kv, blocks, kv_head, n_pos, c, out);
}

void attend(const Item& item, const float* q, int n_heads, const KvLayerView& kv,
            const BatchLayout& batch, std::vector<float>& scratch, float* out) {
    const int64_t hd = kv.head_dim, nl = hn::Lanes(DF());
    const int32_t pos = batch.positions[item.token];
    const int32_t* blocks = batch.block_tables[batch.seq_index[item.token]];
    const int64_t n_pos = int64_t(pos) + 1;
    const int64_t stride = (n_pos + nl - 1) / nl * nl;  // scores per head, padded
    scratch.resize(size_t(stride * item.n_h));
    const float* qh[k_heads];
    float* sc[k_heads];
    float* oh[k_heads];
    for (int h = 0; h < item.n_h; ++h) {
        const int64_t head = item.h0 + h;
        qh[h] = q + (item.token * n_heads + head) * hd;
        sc[h] = scratch.data() + h * stride;
        oh[h] = out + (item.token * n_heads + head) * hd;
    }
    const float scale = 1.0f / std::sqrt(float(hd));
    switch (item.n_h) {
        case 4:
            scores_kernel<4>(qh, kv, blocks, item.kv_head, n_pos, scale, sc);
            break;
        case 3:
            scores_kernel<3>(qh, kv, blocks, item.kv_head, n_pos, scale, sc);
            break;
        case 2:
            scores_kernel<2>(qh, kv, blocks, item.kv_head, n_pos, scale, sc);
            break;
        default:
            scores_kernel<1>(qh, kv, blocks, item.kv_head, n_pos, scale, sc);
            break;
    }
    for (int h = 0; h < item.n_h; ++h) softmax(sc[h], n_pos);
    const float* const* w = sc;
    switch (item.n_h) {
        case 4:
            values_heads<4>(w, kv, blocks, item.kv_head, n_pos, oh);
            break;
        case 3:
            values_heads<3>(w, kv, blocks, item.kv_head, n_pos, oh);
            break;
        case 2:
            values_heads<2>(w, kv, blocks, item.kv_head, n_pos, oh);
            break;
        default:
            values_heads<1>(w, kv, blocks, item.kv_head, n_pos, oh);
            break;
    }
}

}  // namespace

void kv_store(ThreadPool& pool, const float* k /*[n, n_kv_heads, head_dim]*/,
              const float* v /*[n, n_kv_heads, head_dim]*/, const KvLayerView& kv,
              const BatchLayout& batch) {
    const int64_t hd = kv.head_dim;
    for (int64_t i = 0; i < batch.n_tokens; ++i) {
        const int32_t pos = batch.positions[i];
        const int32_t block = batch.block_tables[batch.seq_index[i]][pos / kv.block_size];
        const int64_t slot = pos % kv.block_size;
        for (int h = 0; h < kv.n_kv_heads; ++h) {
            const int64_t src = (i * kv.n_kv_heads + h) * hd;
            std::memcpy(kv.k(block, h) + slot * hd, k + src, size_t(hd) * sizeof(float));
            std::memcpy(kv.v(block, h) + slot * hd, v + src, size_t(hd) * sizeof(float));
        }
    }
}

void attention(ThreadPool& pool, std::vector<std::vector<float>>& scratch,
               const float* q /*[n, n_heads, head_dim]*/, int n_heads, const KvLayerView& kv,
               const BatchLayout& batch, float* out /*[n, n_heads * head_dim]*/) {
    if (kv.n_kv_heads <= 0 || n_heads % kv.n_kv_heads != 0)
        fail(ErrorKind::invalid_argument, "{} query heads cannot share {} KV heads", n_heads,
             kv.n_kv_heads);
    const int group = n_heads / kv.n_kv_heads;
    const int subgroups = (group + k_heads - 1) / k_heads;
    const int64_t per_token = int64_t(kv.n_kv_heads) * subgroups;
    const int64_t n_items = batch.n_tokens * per_token;
    auto item_at = [&](int64_t index) {
        Item it;
        it.token = index / per_token;
        const int64_t r = index % per_token;
        it.kv_head = int(r / subgroups);
        const int sub = int(r % subgroups);
        it.h0 = it.kv_head * group + sub * k_heads;
        it.n_h = std::min(k_heads, group - sub * k_heads);
        return it;
    };
    scratch.resize(size_t(pool.n_threads()));
    if (n_items == 1 || pool.n_threads() == 1) {
        for (int64_t i = 0; i < n_items; ++i)
            attend(item_at(i), q, n_heads, kv, batch, scratch[0], out);
        return;
    }
    std::atomic<int64_t> next{0};
    pool.run_on_all([&](int t, int) {
        for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n_items;)
            attend(item_at(i), q, n_heads, kv, batch, scratch[size_t(t)], out);
    });
}

}  // namespace encore::cpu
