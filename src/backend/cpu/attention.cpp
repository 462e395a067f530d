// Causal attention over the paged KV pool, and the KV store that fills it. Work is split into
// items: a tile of up to k_tile_tokens consecutive tokens of one sequence, one KV head, and up to
// k_heads query heads sharing it. An item walks the positions in blocks of k_pos_block, so the K
// (then V) rows of a block are read from memory once and used from L1 by every token and head of
// the tile. Each (token, head) is still computed in an order that depends only on the token's
// position and head_dim:
//   scores[p] = (q · k_p, lanes over head_dim in one accumulator, sum_lanes' fixed tree) * scale,
//     with sum_lanes groups at absolute positions 16g, 16g + 1, ...;
//   softmax with the max subtracted and the sum accumulated with positions in fixed lanes;
//   out = sum over p, in increasing order, of w_p * v_p (lanes over head_dim; the partial sums
//     are stored and reloaded exactly between position blocks).
// So a token's output is bitwise the same whichever other tokens share the call or its tile,
// however its sequence was split into calls, and on any number of threads.
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

constexpr int k_heads = 4;           // query heads per item (they share the K and V loads)
constexpr int k_tile_tokens = 8;     // tokens of one sequence per item
constexpr int64_t k_pos_block = 64;  // positions per pass over K or V; a multiple of 16
static_assert(k_pos_block % k_sum_lanes_max == 0);

struct Item {
    int64_t t0, t1;  // tokens [t0, t1) of the batch, all of one sequence
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

// scores[h][p] = q_h · k_p * scale for p in [p0, p1), p0 a multiple of k_sum_lanes_max, NH query
// heads. NCH is head_dim / lanes when that is a small whole number (the chunk loop is then
// unrolled), else 0 (a run-time loop, masked at the end). Either way each dot product is one
// accumulator over the head_dim chunks in order; the dots of k_sum_lanes_max consecutive
// positions are reduced together by sum_lanes (one fixed tree per score).
template <int NH, int NCH>
void scores_kernel(const float* const* qh, const KvLayerView& kv, const int32_t* blocks,
                   int kv_head, int64_t p0, int64_t p1, float scale, float* const* scores) {
    const DF df;
    const int64_t nl = hn::Lanes(df), hd = kv.head_dim, bs = kv.block_size;
    VF dots[NH][k_sum_lanes_max];  // per head, the lane-wise partial dot of each position
    float sums[k_sum_lanes_max];
    constexpr int k_qv = NCH > 0 && NH * NCH <= 16 ? NCH : 1;
    VF qv[NH][k_qv];  // the queries, when they fit in registers
    if constexpr (NCH > 0 && NH * NCH <= 16) {
#pragma GCC unroll 16
        for (int h = 0; h < NH; ++h)
#pragma GCC unroll 16
            for (int c = 0; c < NCH; ++c) qv[h][c] = in_register(hn::LoadU(df, qh[h] + c * nl));
    }
    const VF scale_v = hn::Set(df, scale);
    int64_t block = p0 / bs, slot = p0 % bs;  // of the next position
    for (int64_t g = p0; g < p1; g += k_sum_lanes_max) {
        const int count = int(std::min<int64_t>(k_sum_lanes_max, p1 - g));
        for (int i = 0; i < count; ++i) {
            const float* kp = kv.k(blocks[block], kv_head) + slot * hd;
            if (++slot == bs) slot = 0, ++block;
            VF acc[NH];
#pragma GCC unroll 16
            for (int h = 0; h < NH; ++h) acc[h] = hn::Zero(df);
            if constexpr (NCH > 0 && NH * NCH <= 16) {  // q held in registers
#pragma GCC unroll 16
                for (int c = 0; c < NCH; ++c) {
                    const VF k_c = hn::LoadU(df, kp + c * nl);
#pragma GCC unroll 16
                    for (int h = 0; h < NH; ++h) acc[h] = hn::MulAdd(qv[h][c], k_c, acc[h]);
                }
            } else if constexpr (NCH > 0) {
#pragma GCC unroll 16
                for (int c = 0; c < NCH; ++c) {
                    const VF k_c = hn::LoadU(df, kp + c * nl);
#pragma GCC unroll 16
                    for (int h = 0; h < NH; ++h)
                        acc[h] = hn::MulAdd(hn::LoadU(df, qh[h] + c * nl), k_c, acc[h]);
                }
            } else {
                for (int64_t c = 0; c < hd; c += nl) {
                    const VF k_c = load_hd(kp, c, hd);
#pragma GCC unroll 16
                    for (int h = 0; h < NH; ++h)
                        acc[h] = hn::MulAdd(load_hd(qh[h], c, hd), k_c, acc[h]);
                }
            }
#pragma GCC unroll 16
            for (int h = 0; h < NH; ++h) dots[h][i] = acc[h];
        }
#pragma GCC unroll 16
        for (int h = 0; h < NH; ++h) {
            if (count == k_sum_lanes_max) {
                hn::StoreU(hn::Mul(sum_lanes_vector(dots[h]), scale_v), df, scores[h] + g);
            } else {
                sum_lanes(dots[h], count, sums);
                for (int i = 0; i < count; ++i) scores[h][g + i] = sums[i] * scale;
            }
        }
    }
}

template <int NH>
void scores_heads(const float* const* qh, const KvLayerView& kv, const int32_t* blocks, int kv_head,
                  int64_t p0, int64_t p1, float scale, float* const* scores) {
    const int64_t nl = hn::Lanes(DF());
    if (kv.head_dim == 2 * nl) {
        scores_kernel<NH, 2>(qh, kv, blocks, kv_head, p0, p1, scale, scores);
    } else if (kv.head_dim == 4 * nl) {
        scores_kernel<NH, 4>(qh, kv, blocks, kv_head, p0, p1, scale, scores);
    } else if (kv.head_dim == 8 * nl) {
        scores_kernel<NH, 8>(qh, kv, blocks, kv_head, p0, p1, scale, scores);
    } else {
        scores_kernel<NH, 0>(qh, kv, blocks, kv_head, p0, p1, scale, scores);
    }
}

// In place: scores[p] = exp(scores[p] - max) / sum for p in [0, n_pos); scores is padded to
// whole vectors (the padding is set to zero).
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
    float sum;
    sum_lanes(&sum_v, 1, &sum);
    const VF sum_b = hn::Set(df, sum);
    for (p = 0; p < n_pos; p += nl)
        hn::StoreU(hn::Div(hn::LoadU(df, scores + p), sum_b), df, scores + p);
}

// out_h[c0 : c0 + NV lanes] (+)= sum over p in [p0, p1) of w_h[p] * v_p[c0 : ...], NH heads, NV
// vectors of head_dim; the sums start at zero when p0 is 0, else continue from out.
template <int NH, int NV>
void values_kernel(const float* const* w, const KvLayerView& kv, const int32_t* blocks, int kv_head,
                   int64_t p0, int64_t p1, int64_t c0, float* const* out) {
    const DF df;
    const int64_t nl = hn::Lanes(df), hd = kv.head_dim, bs = kv.block_size;
    VF acc[NH][NV];
#pragma GCC unroll 16
    for (int h = 0; h < NH; ++h)
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v)
            acc[h][v] = p0 == 0 ? hn::Zero(df) : load_hd(out[h], c0 + v * nl, hd);
    int64_t block = p0 / bs, slot = p0 % bs;
    for (int64_t p = p0; p < p1; ++p) {
        const float* vp = kv.v(blocks[block], kv_head) + slot * hd;
        if (++slot == bs) slot = 0, ++block;
        VF vv[NV];
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) vv[v] = load_hd(vp, c0 + v * nl, hd);
#pragma GCC unroll 16
        for (int h = 0; h < NH; ++h) {
            const VF wp = hn::Set(df, w[h][p]);
#pragma GCC unroll 16
            for (int v = 0; v < NV; ++v) acc[h][v] = hn::MulAdd(wp, vv[v], acc[h][v]);
        }
    }
#pragma GCC unroll 16
    for (int h = 0; h < NH; ++h) {
#pragma GCC unroll 16
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
                  int64_t p0, int64_t p1, float* const* out) {
    const int64_t nl = hn::Lanes(DF()), hd = kv.head_dim;
    int64_t c = 0;
    for (; c + 4 * nl <= hd; c += 4 * nl)
        values_kernel<NH, 4>(w, kv, blocks, kv_head, p0, p1, c, out);
    for (; c < hd; c += nl) values_kernel<NH, 1>(w, kv, blocks, kv_head, p0, p1, c, out);
}

template <int NH>
void attend(const Item& item, const float* q, int n_heads, const KvLayerView& kv,
            const BatchLayout& batch, std::vector<float>& scratch, float* out) {
    const int64_t hd = kv.head_dim;
    const int32_t* blocks = batch.block_tables[batch.seq_index[item.t0]];
    const int64_t n_tok = item.t1 - item.t0;
    int64_t max_pos = 0;
    for (int64_t t = item.t0; t < item.t1; ++t)
        max_pos = std::max<int64_t>(max_pos, batch.positions[t]);
    // Scores of (token, head): [n_tok][NH][stride], each padded to whole sum_lanes groups.
    const int64_t stride = (max_pos + k_sum_lanes_max) / k_sum_lanes_max * k_sum_lanes_max;
    scratch.resize(size_t(n_tok * NH * stride));
    const float scale = 1.0f / std::sqrt(float(hd));
    auto heads = [&](int64_t t, const float** qh, float** sc, float** oh) {
#pragma GCC unroll 16
        for (int h = 0; h < NH; ++h) {
            const int64_t head = item.h0 + h;
            if (qh) qh[h] = q + (t * n_heads + head) * hd;
            sc[h] = scratch.data() + ((t - item.t0) * NH + h) * stride;
            if (oh) oh[h] = out + (t * n_heads + head) * hd;
        }
    };
    const float* qh[NH];
    float* sc[NH];
    float* oh[NH];
    for (int64_t p0 = 0; p0 <= max_pos; p0 += k_pos_block) {
        for (int64_t t = item.t0; t < item.t1; ++t) {
            const int64_t n_pos = int64_t(batch.positions[t]) + 1;
            if (n_pos <= p0) continue;
            heads(t, qh, sc, nullptr);
            scores_heads<NH>(qh, kv, blocks, item.kv_head, p0, std::min(n_pos, p0 + k_pos_block),
                             scale, sc);
        }
    }
    for (int64_t t = item.t0; t < item.t1; ++t) {
        heads(t, nullptr, sc, nullptr);
#pragma GCC unroll 16
        for (int h = 0; h < NH; ++h) softmax(sc[h], int64_t(batch.positions[t]) + 1);
    }
    for (int64_t p0 = 0; p0 <= max_pos; p0 += k_pos_block) {
        for (int64_t t = item.t0; t < item.t1; ++t) {
            const int64_t n_pos = int64_t(batch.positions[t]) + 1;
            if (n_pos <= p0) continue;
            heads(t, nullptr, sc, oh);
            values_heads<NH>(sc, kv, blocks, item.kv_head, p0, std::min(n_pos, p0 + k_pos_block),
                             oh);
        }
    }
}

void attend_item(const Item& item, const float* q, int n_heads, const KvLayerView& kv,
                 const BatchLayout& batch, std::vector<float>& scratch, float* out) {
    switch (item.n_h) {
        case 4:
            attend<4>(item, q, n_heads, kv, batch, scratch, out);
            break;
        case 3:
            attend<3>(item, q, n_heads, kv, batch, scratch, out);
            break;
        case 2:
            attend<2>(item, q, n_heads, kv, batch, scratch, out);
            break;
        default:
            attend<1>(item, q, n_heads, kv, batch, scratch, out);
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

void attention(ThreadPool& pool, AttentionScratch& scratch,
               const float* q /*[n, n_heads, head_dim]*/, int n_heads, const KvLayerView& kv,
               const BatchLayout& batch, float* out /*[n, n_heads * head_dim]*/) {
    if (kv.n_kv_heads <= 0 || n_heads % kv.n_kv_heads != 0)
        fail(ErrorKind::invalid_argument, "{} query heads cannot share {} KV heads", n_heads,
             kv.n_kv_heads);
    if (batch.n_tokens <= 0) return;
    // Tiles: runs of consecutive tokens of one sequence, at most k_tile_tokens long.
    std::vector<int64_t>& tiles = scratch.tile_starts;  // [n_tiles + 1]
    tiles.clear();
    for (int64_t i = 0; i < batch.n_tokens; ++i)
        if (tiles.empty() || i - tiles.back() == k_tile_tokens ||
            batch.seq_index[i] != batch.seq_index[i - 1])
            tiles.push_back(i);
    tiles.push_back(batch.n_tokens);
    const int64_t n_tiles = int64_t(tiles.size()) - 1;

    const int group = n_heads / kv.n_kv_heads;
    const int subgroups = (group + k_heads - 1) / k_heads;
    const int64_t per_tile = int64_t(kv.n_kv_heads) * subgroups;
    const int64_t n_items = n_tiles * per_tile;
    auto item_at = [&](int64_t index) {
        Item it;
        const int64_t tile = index / per_tile, r = index % per_tile;
        it.t0 = tiles[size_t(tile)], it.t1 = tiles[size_t(tile) + 1];
        it.kv_head = int(r / subgroups);
        const int sub = int(r % subgroups);
        it.h0 = it.kv_head * group + sub * k_heads;
        it.n_h = std::min(k_heads, group - sub * k_heads);
        return it;
    };
    scratch.scores.resize(size_t(pool.n_threads()));
    if (n_items == 1 || pool.n_threads() == 1) {
        for (int64_t i = 0; i < n_items; ++i)
            attend_item(item_at(i), q, n_heads, kv, batch, scratch.scores[0], out);
        return;
    }
    std::atomic<int64_t> next{0};
    pool.run_on_all([&](int t, int) {
        for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n_items;)
            attend_item(item_at(i), q, n_heads, kv, batch, scratch.scores[size_t(t)], out);
    });
}

}  // namespace encore::cpu
