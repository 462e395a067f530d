// Row-wise and elementwise ops of the optimized CPU backend: embed, rms_norm, rope, silu_mul, add,
// gather_rows. Vector bodies handle partial vectors with masked loads and stores (never a scalar
// tail loop), so an element's result does not depend on where it falls in the call; reductions
// (the sum of squares of rms_norm) use a fixed lane layout that depends only on the row length.
#include "backend/cpu/elementwise.h"

#include <cmath>
#include <cstring>

#include "backend/cpu/simd.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "hwy/contrib/math/math-inl.h"

namespace encore::cpu {

namespace {

// Elements per call below which an elementwise op runs on the calling thread only.
constexpr int64_t k_parallel_elems = int64_t(1) << 16;

// Runs fn(begin, end) over [0, n) rows, on the pool when n * row_cost is large.
template <class Fn>
void for_rows(ThreadPool& pool, int64_t n, int64_t row_cost, const Fn& fn) {
    if (n > 1 && n * row_cost >= k_parallel_elems && pool.n_threads() > 1) {
        pool.parallel_for(n, [&](int64_t b, int64_t e, int) { fn(b, e); });
    } else {
        fn(0, n);
    }
}

// Runs fn(begin, end) over [0, n) elements in pieces aligned to whole vectors.
template <class Fn>
void for_elems(ThreadPool& pool, int64_t n, const Fn& fn) {
    const int64_t nl = hn::Lanes(DF());
    if (n >= k_parallel_elems && pool.n_threads() > 1) {
        pool.parallel_for(
            n, [&](int64_t b, int64_t e, int) { fn(b, e); }, 16 * nl);
    } else {
        fn(int64_t(0), n);
    }
}

// Calls body(i, mask) for every vector of [b, e): full vectors, then one masked partial vector.
template <class Body>
HWY_INLINE void for_vectors(int64_t b, int64_t e, const Body& body) {
    const DF df;
    const int64_t nl = hn::Lanes(df);
    int64_t i = b;
    for (; i + nl <= e; i += nl) body(i, hn::FirstN(df, size_t(nl)), true);
    if (i < e) body(i, hn::FirstN(df, size_t(e - i)), false);
}

}  // namespace

void embed(ThreadPool& pool, const TensorView& table /*[vocab, d]*/, const int32_t* ids /*[n]*/,
           int64_t n, float* out /*[n, d]*/) {
    const int64_t d = table.row_elems();
    for (int64_t i = 0; i < n; ++i) {  // all ids are checked before anything is written
        if (ids[i] < 0 || ids[i] >= table.n_rows())
            fail(ErrorKind::out_of_range, "token id {} is outside the vocabulary of {}", ids[i],
                 table.n_rows());
    }
    for_rows(pool, n, d, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
            dequantize_row(table.dtype, table.row(ids[i]), out + i * d, d);
    });
}

void rms_norm(ThreadPool& pool, std::vector<float>& scratch, const float* x /*[n, d]*/,
              const TensorView& weight /*[d]*/, float eps, int64_t n, float* out /*[n, d]*/) {
    const int64_t d = weight.n_elements();
    scratch.resize(size_t(d));
    dequantize_row(weight.dtype, weight.data, scratch.data(), d);
    const float* w = scratch.data();  // [d]
    for_rows(pool, n, d, [&](int64_t b, int64_t e) {
        const DF df;
        for (int64_t i = b; i < e; ++i) {
            const float* xi = x + i * d;
            float* oi = out + i * d;
            // Four accumulators take vectors round-robin; the layout depends only on d.
            VF acc[4] = {hn::Zero(df), hn::Zero(df), hn::Zero(df), hn::Zero(df)};
            int64_t v = 0;
            for_vectors(0, d, [&](int64_t j, auto mask, bool full) {
                const VF xv = full ? hn::LoadU(df, xi + j) : hn::MaskedLoad(mask, df, xi + j);
                acc[v & 3] = hn::MulAdd(xv, xv, acc[v & 3]);
                ++v;
            });
            const VF sum_v = hn::Add(hn::Add(acc[0], acc[1]), hn::Add(acc[2], acc[3]));
            const float sum = hn::GetLane(hn::SumOfLanes(df, sum_v));
            const VF scale = hn::Set(df, 1.0f / std::sqrt(sum / float(d) + eps));
            for_vectors(0, d, [&](int64_t j, auto mask, bool full) {
                const VF xv = full ? hn::LoadU(df, xi + j) : hn::MaskedLoad(mask, df, xi + j);
                const VF wv = full ? hn::LoadU(df, w + j) : hn::MaskedLoad(mask, df, w + j);
                const VF r = hn::Mul(hn::Mul(xv, scale), wv);
                if (full) {
                    hn::StoreU(r, df, oi + j);
                } else {
                    hn::BlendedStore(r, mask, df, oi + j);
                }
            });
        }
    });
}

void rope(ThreadPool& pool, float* x /*[n, n_heads, head_dim]*/, int64_t n, int n_heads,
          const int32_t* positions /*[n]*/, const RopeTable& table) {
    const int hd = table.head_dim, half = hd / 2;
    for_rows(pool, n, int64_t(n_heads) * hd, [&](int64_t b, int64_t e) {
        const DF df;
        // cos and sin of this token's angles, computed once for all heads: [2, half]
        float cs_sn[2 * 512];
        std::vector<float> big;
        float* cs = cs_sn;
        if (half > 512) {
            big.resize(size_t(2 * half));
            cs = big.data();
        }
        float* sn = cs + half;
        for (int64_t i = b; i < e; ++i) {
            for (int c = 0; c < half; ++c) {
                const float angle = float(positions[i]) * table.inv_freq[c];
                cs[c] = std::cos(angle);
                sn[c] = std::sin(angle);
            }
            for (int h = 0; h < n_heads; ++h) {
                float* v = x + (i * n_heads + h) * hd;
                for_vectors(0, half, [&](int64_t c, auto mask, bool) {
                    const VF a = hn::MaskedLoad(mask, df, v + c);
                    const VF bv = hn::MaskedLoad(mask, df, v + half + c);
                    const VF cv = hn::MaskedLoad(mask, df, cs + c);
                    const VF sv = hn::MaskedLoad(mask, df, sn + c);
                    hn::BlendedStore(hn::Sub(hn::Mul(a, cv), hn::Mul(bv, sv)), mask, df, v + c);
                    hn::BlendedStore(hn::Add(hn::Mul(bv, cv), hn::Mul(a, sv)), mask, df,
                                     v + half + c);
                });
            }
        }
    });
}

void silu_mul(ThreadPool& pool, const float* gate, const float* up, int64_t n, float* out) {
    for_elems(pool, n, [&](int64_t b, int64_t e) {
        const DF df;
        const VF one = hn::Set(df, 1.0f);
        for_vectors(b, e, [&](int64_t i, auto mask, bool full) {
            const VF g = full ? hn::LoadU(df, gate + i) : hn::MaskedLoad(mask, df, gate + i);
            const VF u = full ? hn::LoadU(df, up + i) : hn::MaskedLoad(mask, df, up + i);
            const VF s = hn::Div(g, hn::Add(one, hn::Exp(df, hn::Neg(g))));
            const VF r = hn::Mul(s, u);
            if (full) {
                hn::StoreU(r, df, out + i);
            } else {
                hn::BlendedStore(r, mask, df, out + i);
            }
        });
    });
}

void add(ThreadPool& pool, float* x, const float* y, int64_t n) {
    for_elems(pool, n, [&](int64_t b, int64_t e) {
        const DF df;
        for_vectors(b, e, [&](int64_t i, auto mask, bool full) {
            if (full) {
                hn::StoreU(hn::Add(hn::LoadU(df, x + i), hn::LoadU(df, y + i)), df, x + i);
            } else {
                hn::BlendedStore(
                    hn::Add(hn::MaskedLoad(mask, df, x + i), hn::MaskedLoad(mask, df, y + i)), mask,
                    df, x + i);
            }
        });
    });
}

void gather_rows(const float* src /*[*, d]*/, int64_t d, const int32_t* rows /*[n]*/, int64_t n,
                 float* dst /*[n, d]*/) {
    for (int64_t i = 0; i < n; ++i)
        std::memcpy(dst + i * d, src + int64_t(rows[i]) * d, size_t(d) * sizeof(float));
}

}  // namespace encore::cpu
