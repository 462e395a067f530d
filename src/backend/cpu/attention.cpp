// Causal attention over the paged KV pool, and the KV store that fills it. Work is split into
// items: a tile of up to k_tile_tokens consecutive tokens of one sequence, one KV head, and up to
// k_heads query heads sharing it. An item walks the positions in passes of k_pos_block, so the K
// (then V) rows of a pass are read from memory once and used from L1 by every token and head of
// the tile; the keys of a pass are transposed once ([head_dim][positions]) so that a vector holds
// the scores of consecutive positions. Each (token, head) is still computed in an order that
// depends only on the token's position and head_dim:
//   scores[p] = (q · k_p, one FMA chain over head_dim in order) * scale;
//   softmax with the max subtracted and the sum accumulated with positions in fixed lanes;
//   out = sum over p, in increasing order, of w_p * v_p (lanes over head_dim; the partial sums
//     are stored and reloaded exactly between position blocks).
// So a token's output is bitwise the same whichever other tokens share the call or its tile,
// however its sequence was split into calls, and on any number of threads.
//
// K/V storage types (KvLayerView::type): the kernels are templates on the element type (float,
// hwy::float16_t, hwy::bfloat16_t); a 16-bit element is widened to f32 as it is loaded (F16C /
// a shift where the target has them, exact either way) and every sum is the f32 path's. The f32
// instantiation is the code as it was before other types existed. kv_store rounds K and V to the
// storage type, to nearest even (as core/dtype.h's conversions).
#include "backend/cpu/attention.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <type_traits>

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

// One stored K/V element as f32 (exact).
HWY_INLINE float to_f32(float x) {
    return x;
}
HWY_INLINE float to_f32(hwy::float16_t x) {
    return f16_to_f32(x.bits);
}
HWY_INLINE float to_f32(hwy::bfloat16_t x) {
    return bf16_to_f32(x.bits);
}

// A full vector of stored K/V elements from p, widened to f32.
template <typename T>
HWY_INLINE VF load_kv(const T* p) {
    const DF df;
    if constexpr (std::is_same_v<T, float>) {
        return hn::LoadU(df, p);
    } else {
        return hn::PromoteTo(df, hn::LoadU(hn::Rebind<T, DF>(), p));
    }
}

// load_hd of stored K/V elements: lanes past head_dim are zero.
template <typename T>
HWY_INLINE VF load_kv_hd(const T* p, int64_t c, int64_t hd) {
    if constexpr (std::is_same_v<T, float>) {
        return load_hd(p, c, hd);
    } else {
        const DF df;
        const int64_t nl = hn::Lanes(df);
        if (c + nl <= hd) return load_kv(p + c);
        alignas(64) float part[HWY_LANES(float)] = {};
        for (int64_t i = 0; i < hd - c; ++i) part[i] = to_f32(p[c + i]);
        return hn::LoadU(df, part);
    }
}

// kt[d][j] = k_{p0 + j}[d] for j in [0, n), zero for j in [n, k_pos_block): the keys of one pass
// transposed, so that scores are computed for 16 positions per vector without any horizontal sum.
// Whole 16 x 16 tiles are transposed in registers when the positions come 16 to a block row run
// and head_dim is a multiple of 16; other shapes take the element loop (same values either way).
template <typename T>
void transpose_keys(const KvLayerView& kv, const int32_t* blocks, int kv_head, int64_t p0,
                    int64_t n, float* kt /*[head_dim][k_pos_block]*/) {
    const int64_t hd = kv.head_dim, bs = kv.block_size;
#if HWY_TARGET <= HWY_AVX3 && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128
    if (hd % 16 == 0 && bs % 16 == 0 && p0 % 16 == 0) {
        for (int64_t g = 0; g < k_pos_block / 16; ++g) {
            const int64_t pg = p0 + g * 16, valid = std::clamp<int64_t>(n - g * 16, 0, 16);
            const T* rows =
                valid > 0 ? kv.k<T>(blocks[pg / bs], kv_head) + (pg % bs) * hd : nullptr;
            for (int64_t c = 0; c < hd; c += 16) {
                __m512 r[16];
                for (int i = 0; i < 16; ++i)
                    r[i] = i < valid ? load_kv(rows + i * hd + c).raw : _mm512_setzero_ps();
                // 16 x 16 transpose: pairs of rows, then quads, then 128-bit lanes.
                __m512 t[16], u[16];
                for (int i = 0; i < 8; ++i) {
                    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
                    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
                }
                for (int i = 0; i < 4; ++i) {
                    u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
                    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
                    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
                    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
                }
                for (int i = 0; i < 4; ++i) {
                    t[i] = _mm512_shuffle_f32x4(u[i], u[4 + i], 0x88);
                    t[4 + i] = _mm512_shuffle_f32x4(u[i], u[4 + i], 0xdd);
                    t[8 + i] = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0x88);
                    t[12 + i] = _mm512_shuffle_f32x4(u[8 + i], u[12 + i], 0xdd);
                }
                for (int i = 0; i < 4; ++i) {
                    u[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
                    u[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
                    u[4 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0x88);
                    u[12 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0xdd);
                }
                for (int i = 0; i < 16; ++i)
                    _mm512_storeu_ps(kt + (c + i) * k_pos_block + g * 16, u[i]);
            }
        }
        return;
    }
#endif
    for (int64_t j = 0; j < k_pos_block; ++j) {
        const int64_t p = p0 + j;
        const T* kp = j < n ? kv.k<T>(blocks[p / bs], kv_head) + (p % bs) * hd : nullptr;
        for (int64_t d = 0; d < hd; ++d) kt[d * k_pos_block + j] = kp ? to_f32(kp[d]) : 0.0f;
    }
}

// scores[h][p0 + j] = (q_h · k_{p0 + j}) * scale for the whole pass (j < k_pos_block; entries past
// the token's own positions are written too and ignored by softmax), NH query heads. Each dot
// product runs over head_dim in order, one FMA chain per lane.
template <int NH>
void scores_kernel(const float* const* qh, const float* kt, int64_t hd, int64_t p0, int64_t n_pos,
                   float scale, float* const* scores, VF* max_v /*[NH], lane-wise, updated*/) {
    const DF df;
    constexpr int G = int(k_pos_block / HWY_LANES(float));  // vectors of positions per pass
    const int64_t nl = hn::Lanes(df);
    VF acc[NH][G];
#pragma GCC unroll 16
    for (int h = 0; h < NH; ++h)
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g) acc[h][g] = hn::Zero(df);
    for (int64_t d = 0; d < hd; ++d) {
        VF k[G];
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g)
            k[g] = in_register(hn::LoadU(df, kt + d * k_pos_block + g * nl));
#pragma GCC unroll 16
        for (int h = 0; h < NH; ++h) {
            const VF qd = hn::Set(df, qh[h][d]);
#pragma GCC unroll 16
            for (int g = 0; g < G; ++g) acc[h][g] = hn::MulAdd(qd, k[g], acc[h][g]);
        }
    }
    const VF scale_v = hn::Set(df, scale);
#pragma GCC unroll 16
    for (int h = 0; h < NH; ++h) {
#pragma GCC unroll 16
        for (int g = 0; g < G; ++g) {
            const int64_t valid = n_pos - p0 - g * nl;  // positions of this vector to keep
            if (valid <= 0) continue;
            const VF sc = hn::Mul(acc[h][g], scale_v);
            hn::StoreU(sc, df, scores[h] + p0 + g * nl);
            max_v[h] = valid >= nl ? hn::Max(max_v[h], sc)
                                   : hn::Max(max_v[h], hn::IfThenElse(hn::FirstN(df, size_t(valid)),
                                                                      sc, max_v[h]));
        }
    }
}

// In place: scores[p] = exp(scores[p] - max) * (1 / sum) for p in [0, n_pos); scores is padded to
// whole vectors (the padding is set to zero).
void softmax(float* scores, int64_t n_pos, VF max_v /* lane-wise max of the n_pos scores */) {
    const DF df;
    const int64_t nl = hn::Lanes(df);
    int64_t p = 0;
    const auto tail = hn::FirstN(df, size_t(n_pos % nl));
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
    const VF inv_sum = hn::Set(df, 1.0f / sum);  // one division, not one per vector
    for (p = 0; p < n_pos; p += nl)
        hn::StoreU(hn::Mul(hn::LoadU(df, scores + p), inv_sum), df, scores + p);
}

// out_h[c0 : c0 + NV lanes] (+)= sum over p in [p0, p1) of w_h[p] * v_p[c0 : ...], NH heads, NV
// vectors of head_dim; the sums start at zero when p0 is 0, else continue from out.
template <int NH, int NV, typename T>
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
        const T* vp = kv.v<T>(blocks[block], kv_head) + slot * hd;
        if (++slot == bs) slot = 0, ++block;
        VF vv[NV];
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) vv[v] = load_kv_hd(vp, c0 + v * nl, hd);
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

template <int NH, typename T>
void values_heads(const float* const* w, const KvLayerView& kv, const int32_t* blocks, int kv_head,
                  int64_t p0, int64_t p1, float* const* out) {
    const int64_t nl = hn::Lanes(DF()), hd = kv.head_dim;
    int64_t c = 0;
    if constexpr (NH <= 4) {  // more heads leave registers for two vectors of head_dim only
        for (; c + 4 * nl <= hd; c += 4 * nl)
            values_kernel<NH, 4, T>(w, kv, blocks, kv_head, p0, p1, c, out);
    }
    for (; c + 2 * nl <= hd; c += 2 * nl)
        values_kernel<NH, 2, T>(w, kv, blocks, kv_head, p0, p1, c, out);
    for (; c < hd; c += nl) values_kernel<NH, 1, T>(w, kv, blocks, kv_head, p0, p1, c, out);
}

template <int NH, typename T>
void attend(const Item& item, const float* q, int n_heads, const KvLayerView& kv,
            const BatchLayout& batch, std::vector<float>& scratch, float* out) {
    const int64_t hd = kv.head_dim;
    const int32_t* blocks = batch.block_tables[batch.seq_index[item.t0]];
    const int64_t n_tok = item.t1 - item.t0;
    int64_t max_pos = 0;
    for (int64_t t = item.t0; t < item.t1; ++t)
        max_pos = std::max<int64_t>(max_pos, batch.positions[t]);
    // Scores of (token, head): [n_tok][NH][stride], each padded to whole passes; then the
    // transposed keys of one pass.
    const int64_t stride = (max_pos + k_pos_block) / k_pos_block * k_pos_block;
    scratch.resize(size_t(n_tok * NH * stride + hd * k_pos_block + 16));
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
    float* kt = scratch.data() + n_tok * NH * stride;  // [head_dim][k_pos_block]
    VF max_v[k_tile_tokens][NH];  // per (token, head): lane-wise max of its scores so far
    for (auto& row : max_v)
        for (VF& m : row) m = hn::Set(DF(), -INFINITY);
    for (int64_t p0 = 0; p0 <= max_pos; p0 += k_pos_block) {
        transpose_keys<T>(kv, blocks, item.kv_head, p0, std::min(k_pos_block, max_pos + 1 - p0),
                          kt);
        for (int64_t t = item.t0; t < item.t1; ++t) {
            const int64_t n_pos = int64_t(batch.positions[t]) + 1;
            if (n_pos <= p0) continue;
            heads(t, qh, sc, nullptr);
            scores_kernel<NH>(qh, kt, hd, p0, n_pos, scale, sc, max_v[t - item.t0]);
        }
    }
    for (int64_t t = item.t0; t < item.t1; ++t) {
        heads(t, nullptr, sc, nullptr);
#pragma GCC unroll 16
        for (int h = 0; h < NH; ++h)
            softmax(sc[h], int64_t(batch.positions[t]) + 1, max_v[t - item.t0][h]);
    }
    float* sc2[2 * NH];
    float* oh2[2 * NH];
    for (int64_t p0 = 0; p0 <= max_pos; p0 += k_pos_block) {
        for (int64_t t = item.t0; t < item.t1; ++t) {
            const int64_t n_pos = int64_t(batch.positions[t]) + 1;
            if (n_pos <= p0) continue;
            const int64_t p1 = std::min(n_pos, p0 + k_pos_block);
            if (t + 1 < item.t1 && p1 == p0 + k_pos_block &&
                int64_t(batch.positions[t + 1]) + 1 >= p1) {
                // Two tokens that both cover the whole pass: their heads share each V load.
                heads(t, nullptr, sc2, oh2);
                heads(t + 1, nullptr, sc2 + NH, oh2 + NH);
                values_heads<2 * NH, T>(sc2, kv, blocks, item.kv_head, p0, p1, oh2);
                ++t;
                continue;
            }
            heads(t, nullptr, sc, oh);
            values_heads<NH, T>(sc, kv, blocks, item.kv_head, p0, p1, oh);
        }
    }
}

template <typename T>
void attend_item_typed(const Item& item, const float* q, int n_heads, const KvLayerView& kv,
                       const BatchLayout& batch, std::vector<float>& scratch, float* out) {
    switch (item.n_h) {
        case 4:
            attend<4, T>(item, q, n_heads, kv, batch, scratch, out);
            break;
        case 3:
            attend<3, T>(item, q, n_heads, kv, batch, scratch, out);
            break;
        case 2:
            attend<2, T>(item, q, n_heads, kv, batch, scratch, out);
            break;
        default:
            attend<1, T>(item, q, n_heads, kv, batch, scratch, out);
            break;
    }
}

void attend_item(const Item& item, const float* q, int n_heads, const KvLayerView& kv,
                 const BatchLayout& batch, std::vector<float>& scratch, float* out) {
    switch (kv.type) {
        case DType::f16:
            return attend_item_typed<hwy::float16_t>(item, q, n_heads, kv, batch, scratch, out);
        case DType::bf16:
            return attend_item_typed<hwy::bfloat16_t>(item, q, n_heads, kv, batch, scratch, out);
        default:
            return attend_item_typed<float>(item, q, n_heads, kv, batch, scratch, out);
    }
}

// dst[0, n) = src rounded to the storage type, to nearest even.
void store_row(DType type, const float* src, void* dst, int64_t n) {
    if (type == DType::f32) {
        std::memcpy(dst, src, size_t(n) * sizeof(float));
    } else if (type == DType::f16) {
        const DF df;
        const hn::Rebind<hwy::float16_t, DF> dh;
        const int64_t nl = hn::Lanes(df);
        auto* out = static_cast<hwy::float16_t*>(dst);
        int64_t i = 0;
        for (; i + nl <= n; i += nl)
            hn::StoreU(hn::DemoteTo(dh, hn::LoadU(df, src + i)), dh, out + i);
        for (; i < n; ++i) out[i].bits = f32_to_f16(src[i]);
    } else {  // bf16: Highway 1.0's DemoteTo truncates, so the scalar rounding
        auto* out = static_cast<uint16_t*>(dst);
        for (int64_t i = 0; i < n; ++i) out[i] = f32_to_bf16(src[i]);
    }
}

}  // namespace

void kv_store(ThreadPool& pool, const float* k /*[n, n_kv_heads, head_dim]*/,
              const float* v /*[n, n_kv_heads, head_dim]*/, const KvLayerView& kv,
              const BatchLayout& batch) {
    const int64_t hd = kv.head_dim;
    const int64_t element = kv_type_bytes(kv.type);
    auto* pool_bytes = static_cast<uint8_t*>(kv.pool);
    auto store = [&](int64_t i0, int64_t i1, int) {  // tokens [i0, i1): distinct slots
        for (int64_t i = i0; i < i1; ++i) {
            const int32_t pos = batch.positions[i];
            const int32_t block = batch.block_tables[batch.seq_index[i]][pos / kv.block_size];
            const int64_t slot = pos % kv.block_size;
            for (int h = 0; h < kv.n_kv_heads; ++h) {
                const int64_t src = (i * kv.n_kv_heads + h) * hd;
                store_row(kv.type, k + src,
                          pool_bytes + (kv.k_index(block, h) + slot * hd) * element, hd);
                store_row(kv.type, v + src,
                          pool_bytes + (kv.v_index(block, h) + slot * hd) * element, hd);
            }
        }
    };
    constexpr int64_t k_tokens_per_thread = 64;  // below that, waking threads costs more
    pool.parallel_for(batch.n_tokens, store, k_tokens_per_thread);
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
