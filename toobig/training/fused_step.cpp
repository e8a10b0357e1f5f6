// One training step of the study's small GPT on the CPU, fused by hand (llm.c's way): forward,
// cross-entropy, backward, gradient clipping and AdamW in one call, for 1 layer, 1 head, no
// bias, no dropout, float32. The shape is compiled in (-DNC=n_embd -DNV=vocab -DNT=block
// -DNH=mlp hidden). fused_step.py builds and calls it.
//
// Same bits everywhere: one source, two builds. With -DFUSED_AVX2 (and -mavx2 -mfma) the 8-lane
// vector type is __m256; without it, 8 floats in a struct, each operation a loop over the lanes
// (what ARM or an old x86 builds). Both perform the same IEEE operations in the same order:
// fused multiply-adds only where the source says (fma_), no contraction (-ffp-contract=off),
// the same exp and erf (below), every sum in a fixed order written here (8 lane accumulators,
// then one fixed tree; long sums run sequentially). So the two builds give identical parameters.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>

#ifndef NC
#error "compile with -DNC=<n_embd> -DNV=<vocab> -DNT=<block_size> -DNH=<mlp hidden>"
#endif
#ifndef CHUNK
#define CHUNK 8  // sequences per chunk: their activations stay in L1/L2 between forward and backward
#endif

constexpr int C = NC, V = NV, T = NT, H = NH;
constexpr int pad8(int n) { return (n + 7) / 8 * 8; }
constexpr int CP = pad8(C), HP = pad8(H), VP = pad8(V), TP = pad8(T);  // padded: lanes past the width hold 0
constexpr int R = CHUNK * T;                              // rows (tokens) in a chunk

// --- the 8-lane vector ---------------------------------------------------------------------------
#if defined(FUSED_AVX2)
#include <immintrin.h>
typedef __m256 v8;
static inline v8 vload(const float* p) { return _mm256_loadu_ps(p); }
static inline void vstore(float* p, v8 a) { _mm256_storeu_ps(p, a); }
static inline v8 vset(float a) { return _mm256_set1_ps(a); }
static inline v8 vadd(v8 a, v8 b) { return _mm256_add_ps(a, b); }
static inline v8 vsub(v8 a, v8 b) { return _mm256_sub_ps(a, b); }
static inline v8 vmul(v8 a, v8 b) { return _mm256_mul_ps(a, b); }
static inline v8 vdiv(v8 a, v8 b) { return _mm256_div_ps(a, b); }
static inline v8 fma_(v8 a, v8 b, v8 c) { return _mm256_fmadd_ps(a, b, c); }  // a * b + c, one rounding
static inline v8 vmax(v8 a, v8 b) { return _mm256_max_ps(a, b); }  // a > b ? a : b, as MAXPS defines it
static inline v8 vsqrt(v8 a) { return _mm256_sqrt_ps(a); }
static inline v8 vabs(v8 a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
static inline v8 vcopysign(v8 mag, v8 sign) {
    const v8 s = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(s, mag), _mm256_and_ps(s, sign));
}
static inline v8 vselect_lt(v8 a, v8 b, v8 if_lt, v8 otherwise) {  // a < b ? if_lt : otherwise
    return _mm256_blendv_ps(otherwise, if_lt, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
}
static inline v8 vexp2i(v8 n) {  // 2^n for integral n in [-126, 127]
    __m256i e = _mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}
static inline float vfirst(v8 a) { return _mm256_cvtss_f32(a); }
static inline float vsum(v8 a) {  // ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7))
    __m128 h = _mm_hadd_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_hadd_ps(h, h);
    return _mm_cvtss_f32(h) + _mm_cvtss_f32(_mm_shuffle_ps(h, h, 1));
}
#else
struct v8 { float l[8]; };
#define LANES(expr) do { for (int i = 0; i < 8; i++) { expr; } } while (0)
static inline v8 vload(const float* p) { v8 r; LANES(r.l[i] = p[i]); return r; }
static inline void vstore(float* p, v8 a) { LANES(p[i] = a.l[i]); }
static inline v8 vset(float a) { v8 r; LANES(r.l[i] = a); return r; }
static inline v8 vadd(v8 a, v8 b) { v8 r; LANES(r.l[i] = a.l[i] + b.l[i]); return r; }
static inline v8 vsub(v8 a, v8 b) { v8 r; LANES(r.l[i] = a.l[i] - b.l[i]); return r; }
static inline v8 vmul(v8 a, v8 b) { v8 r; LANES(r.l[i] = a.l[i] * b.l[i]); return r; }
static inline v8 vdiv(v8 a, v8 b) { v8 r; LANES(r.l[i] = a.l[i] / b.l[i]); return r; }
static inline v8 fma_(v8 a, v8 b, v8 c) { v8 r; LANES(r.l[i] = std::fmaf(a.l[i], b.l[i], c.l[i])); return r; }
static inline v8 vmax(v8 a, v8 b) { v8 r; LANES(r.l[i] = a.l[i] > b.l[i] ? a.l[i] : b.l[i]); return r; }
static inline v8 vsqrt(v8 a) { v8 r; LANES(r.l[i] = std::sqrt(a.l[i])); return r; }
static inline v8 vabs(v8 a) { v8 r; LANES(r.l[i] = std::fabs(a.l[i])); return r; }
static inline v8 vcopysign(v8 mag, v8 sign) { v8 r; LANES(r.l[i] = std::copysign(mag.l[i], sign.l[i])); return r; }
static inline v8 vselect_lt(v8 a, v8 b, v8 if_lt, v8 otherwise) {
    v8 r; LANES(r.l[i] = a.l[i] < b.l[i] ? if_lt.l[i] : otherwise.l[i]); return r;
}
static inline v8 vexp2i(v8 n) {
    v8 r;
    for (int i = 0; i < 8; i++) {
        uint32_t bits = (uint32_t)((int32_t)n.l[i] + 127) << 23;
        std::memcpy(&r.l[i], &bits, 4);
    }
    return r;
}
static inline float vfirst(v8 a) { return a.l[0]; }
static inline float vsum(v8 a) {
    return ((a.l[0] + a.l[1]) + (a.l[2] + a.l[3])) + ((a.l[4] + a.l[5]) + (a.l[6] + a.l[7]));
}
#endif
static inline v8 vzero() { return vset(0.0f); }

// --- exp and erf: our own, the same operations in both builds --------------------------------------
static inline v8 vexp(v8 x) {
    // e^x = 2^n e^r, n = round(x / ln 2), r = x - n ln 2 (Cody-Waite: ln 2 in two parts), e^r by its
    // Taylor polynomial to degree 7 (|r| <= ln 2 / 2: relative error < 1e-8); 0 below -87.3
    const v8 lo = vset(-87.3f);
    v8 xc = vmax(x, lo);
    xc = vselect_lt(vset(88.0f), xc, vset(88.0f), xc);  // so that 2^n stays a normal float
    const v8 magic = vset(12582912.0f);  // 1.5 * 2^23: adding and subtracting rounds to an integer
    v8 n = vsub(vadd(vmul(xc, vset(1.44269504f)), magic), magic);
    v8 r = fma_(n, vset(-0.693145752f), xc);
    r = fma_(n, vset(-1.42860677e-06f), r);
    v8 p = vset(1.98412698e-04f);
    p = fma_(p, r, vset(1.38888889e-03f));
    p = fma_(p, r, vset(8.33333333e-03f));
    p = fma_(p, r, vset(4.16666667e-02f));
    p = fma_(p, r, vset(1.66666667e-01f));
    p = fma_(p, r, vset(0.5f));
    p = fma_(p, r, vset(1.0f));
    p = fma_(p, r, vset(1.0f));
    return vselect_lt(x, lo, vzero(), vmul(p, vexp2i(n)));
}

static inline v8 verf(v8 x) {
    // |x| < 1: x P(x^2); 1 <= |x|: 1 - exp(Q(|x| - 2.5)) with Q ~ log erfc on [1, 4] (|x| >= 4: 1).
    // P and Q are least-squares fits of ours (float32 error within ~2 ulp of erf).
    v8 s = vmul(x, x);
    v8 p = vset(7.93349391e-05f);
    p = fma_(p, s, vset(-0.00080348464f));
    p = fma_(p, s, vset(0.00519121857f));
    p = fma_(p, s, vset(-0.0268553998f));
    p = fma_(p, s, vset(0.112836257f));
    p = fma_(p, s, vset(-0.376126289f));
    p = fma_(p, s, vset(1.12837923f));
    v8 small = vmul(x, p);
    v8 t = vabs(x);
    t = vselect_lt(vset(4.0f), t, vset(4.0f), t);
    v8 u = vsub(t, vset(2.5f));
    v8 q = vset(-4.10485441e-08f);
    q = fma_(q, u, vset(-6.58285799e-08f));
    q = fma_(q, u, vset(1.84495968e-06f));
    q = fma_(q, u, vset(-1.29761329e-05f));
    q = fma_(q, u, vset(7.69398466e-05f));
    q = fma_(q, u, vset(-0.000420706929f));
    q = fma_(q, u, vset(0.00216552569f));
    q = fma_(q, u, vset(-0.0108581651f));
    q = fma_(q, u, vset(-0.943893731f));
    q = fma_(q, u, vset(-5.35268068f));
    q = fma_(q, u, vset(-7.80681515f));
    v8 large = vcopysign(vsub(vset(1.0f), vexp(q)), x);
    return vselect_lt(vabs(x), vset(1.0f), small, large);
}

static inline float sexp(float x) { return vfirst(vexp(vset(x))); }

static inline float slog(float x) {
    // log x = e ln 2 + log m, m in [1, 2): log m = 2 atanh(z), z = (m - 1) / (m + 1), its series
    // to z^13 (|z| <= 1/3: error < 1e-8). For the loss only: the gradient never uses it.
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    int e = (int)((bits >> 23) & 0xff) - 127;
    bits = (bits & 0x007fffff) | 0x3f800000;
    float m;
    std::memcpy(&m, &bits, 4);
    float z = (m - 1.0f) / (m + 1.0f), z2 = z * z;
    float p = 1.0f / 13.0f;
    for (float k : {11.0f, 9.0f, 7.0f, 5.0f, 3.0f, 1.0f}) p = std::fmaf(p, z2, 1.0f / k);
    return std::fmaf((float)e, 0.693147182f, 2.0f * z * p);
}

// --- the layers, on padded rows --------------------------------------------------------------------
// out[r][:NP] = sum_k a[r][k] wT[k][:NP], k in order (a row stride AP, wT packed K x NP). Register
// tiles of RB rows x JW vectors share each load; every output still sums its k in order.
template <int K, int AP, int NP, int RB, int JW>
static inline void matmul_tile(const float* a, const float* wT, float* out, int j0) {
    v8 acc[RB][JW];
    for (int r = 0; r < RB; r++)
        for (int j = 0; j < JW; j++) acc[r][j] = vzero();
    for (int k = 0; k < K; k++) {
        v8 w[JW];
        for (int j = 0; j < JW; j++) w[j] = vload(wT + k * NP + 8 * (j0 + j));
        for (int r = 0; r < RB; r++) {
            v8 ark = vset(a[r * AP + k]);
            for (int j = 0; j < JW; j++) acc[r][j] = fma_(ark, w[j], acc[r][j]);
        }
    }
    for (int r = 0; r < RB; r++)
        for (int j = 0; j < JW; j++) vstore(out + r * NP + 8 * (j0 + j), acc[r][j]);
}

template <int K, int AP, int NP, int RB>
static inline void matmul_rows(const float* a, const float* wT, float* out) {
    constexpr int JW = 3, FULL = NP / 8 / JW * JW, REST = NP / 8 - FULL;
    for (int j0 = 0; j0 < FULL; j0 += JW) matmul_tile<K, AP, NP, RB, JW>(a, wT, out, j0);
    if constexpr (REST > 0) matmul_tile<K, AP, NP, RB, REST>(a, wT, out, FULL);
}

template <int K, int AP, int NP>
static void matmul(const float* a, const float* wT, float* out, int rows) {
    int r = 0;
    for (; r + 4 <= rows; r += 4) matmul_rows<K, AP, NP, 4>(a + r * AP, wT, out + r * NP);
    for (; r < rows; r++) matmul_rows<K, AP, NP, 1>(a + r * AP, wT, out + r * NP);
}

// dw[j][:KP] += sum_r d[r][j] a[r][:KP], r in order (d row stride DP): tiles of JB rows of dw by IW
// vectors stay in registers over all r
template <int DP, int KP, int JB, int IW>
static inline void weight_tile(const float* d, const float* a, float* dw, int rows, int j0, int i0) {
    v8 acc[JB][IW];
    for (int j = 0; j < JB; j++)
        for (int i = 0; i < IW; i++) acc[j][i] = vload(dw + (j0 + j) * KP + 8 * (i0 + i));
    for (int r = 0; r < rows; r++) {
        v8 ar[IW];
        for (int i = 0; i < IW; i++) ar[i] = vload(a + r * KP + 8 * (i0 + i));
        for (int j = 0; j < JB; j++) {
            v8 drj = vset(d[r * DP + j0 + j]);
            for (int i = 0; i < IW; i++) acc[j][i] = fma_(drj, ar[i], acc[j][i]);
        }
    }
    for (int j = 0; j < JB; j++)
        for (int i = 0; i < IW; i++) vstore(dw + (j0 + j) * KP + 8 * (i0 + i), acc[j][i]);
}

template <int N, int DP, int KP, int JB>
static inline void weight_rows(const float* d, const float* a, float* dw, int rows, int j0) {
    constexpr int IW = 3, FULL = KP / 8 / IW * IW, REST = KP / 8 - FULL;
    for (int i0 = 0; i0 < FULL; i0 += IW) weight_tile<DP, KP, JB, IW>(d, a, dw, rows, j0, i0);
    if constexpr (REST > 0) weight_tile<DP, KP, JB, REST>(d, a, dw, rows, j0, FULL);
}

template <int N, int DP, int KP>
static void matmul_back_weight(const float* d, const float* a, float* dw, int rows) {
    constexpr int JB = 4, FULL = N / JB * JB;
    for (int j0 = 0; j0 < FULL; j0 += JB) weight_rows<N, DP, KP, JB>(d, a, dw, rows, j0);
    for (int j0 = FULL; j0 < N; j0++) weight_rows<N, DP, KP, 1>(d, a, dw, rows, j0);
}

static float cmask[CP], vmask[VP];  // 1 in the true lanes, 0 in the padding

// y = (x - mean) / sqrt(var + 1e-5) * g, per row; keeps xhat and 1/std for the backward
static void layernorm(const float* x, const float* g, float* xhat, float* rstd, float* y, int rows) {
    for (int r = 0; r < rows; r++) {
        const float* xr = x + r * CP;
        v8 s = vzero();
        for (int i = 0; i < CP / 8; i++) s = vadd(s, vload(xr + 8 * i));
        v8 mean = vset(vsum(s) / C);
        v8 ss = vzero();
        for (int i = 0; i < CP / 8; i++) {
            v8 xc = vmul(vsub(vload(xr + 8 * i), mean), vload(cmask + 8 * i));
            ss = fma_(xc, xc, ss);
        }
        float rs = 1.0f / std::sqrt(vsum(ss) / C + 1e-5f);
        rstd[r] = rs;
        for (int i = 0; i < CP / 8; i++) {
            v8 xh = vmul(vmul(vsub(vload(xr + 8 * i), mean), vload(cmask + 8 * i)), vset(rs));
            vstore(xhat + r * CP + 8 * i, xh);
            vstore(y + r * CP + 8 * i, vmul(xh, vload(g + 8 * i)));
        }
    }
}

// dx = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / std, dxhat = dy g; dg += dy xhat (rows in order)
static void layernorm_back(const float* dy, const float* xhat, const float* rstd, const float* g, float* dg,
                           float* dx, int rows) {
    for (int r = 0; r < rows; r++) {
        v8 s1 = vzero(), s2 = vzero();
        for (int i = 0; i < CP / 8; i++) {
            v8 dyi = vload(dy + r * CP + 8 * i), xh = vload(xhat + r * CP + 8 * i);
            v8 dxh = vmul(dyi, vload(g + 8 * i));
            vstore(dg + 8 * i, fma_(dyi, xh, vload(dg + 8 * i)));
            s1 = vadd(s1, dxh);
            s2 = fma_(dxh, xh, s2);
        }
        v8 m1 = vset(vsum(s1) / C), m2 = vset(vsum(s2) / C), rs = vset(rstd[r]);
        for (int i = 0; i < CP / 8; i++) {
            v8 xh = vload(xhat + r * CP + 8 * i);
            v8 dxh = vmul(vload(dy + r * CP + 8 * i), vload(g + 8 * i));
            v8 d = vsub(vsub(dxh, m1), vmul(xh, m2));
            vstore(dx + r * CP + 8 * i, vmul(vmul(d, rs), vload(cmask + 8 * i)));
        }
    }
}

// --- the weights, packed at the start of a step ----------------------------------------------------
// flat parameter layout: nanoGPT's named_parameters order (the tied wte is lm_head's weight)
constexpr int O_WTE = 0, O_WPE = O_WTE + V * C, O_G1 = O_WPE + T * C, O_QKV = O_G1 + C, O_AP = O_QKV + 3 * C * C,
              O_G2 = O_AP + C * C, O_FC = O_G2 + C, O_MP = O_FC + H * C, O_GF = O_MP + C * H, N_PARAMS = O_GF + C;

struct Packed {  // forward layouts (k x n, n padded) and backward layouts (n x k, k padded), zero-padded
    float wqT[C * CP], wkT[C * CP], wvT[C * CP], wapT[C * CP], wfcT[C * HP], wmpT[H * CP], wteT[C * VP];
    float wq[C * CP], wk[C * CP], wv[C * CP], wap[C * CP], wfc[H * CP], wmp[C * HP], wte[V * CP];
    float wpe[T * CP], g1[CP], g2[CP], gf[CP];
};
struct Grads {  // the same shapes as the backward layouts
    float wq[C * CP], wk[C * CP], wv[C * CP], wap[C * CP], wfc[H * CP], wmp[C * HP], wte[V * CP];
    float wpe[T * CP], g1[CP], g2[CP], gf[CP];
};
struct Acts {
    float x0[R * CP], xh1[R * CP], rs1[R], a1[R * CP], q[R * CP], k[R * CP], v[R * CP], att[CHUNK * T * T];
    float y[R * CP], x1[R * CP], xh2[R * CP], rs2[R], a2[R * CP], h[R * HP], u[R * HP], x2[R * CP];
    float xhf[R * CP], rsf[R], f[R * CP], logits[R * VP];
    float df[R * CP], dx[R * CP], dtmp[R * CP], du[R * HP], da[R * CP], dy[R * CP], dq[R * CP], dk[R * CP],
        dv[R * CP];
};

static void pack_rows(const float* src, int rows, int cols, float* dst, int dst_cols) {  // (rows x cols) -> padded
    std::memset(dst, 0, sizeof(float) * rows * dst_cols);
    for (int r = 0; r < rows; r++) std::memcpy(dst + r * dst_cols, src + r * cols, sizeof(float) * cols);
}
static void pack_transposed(const float* src, int rows, int cols, float* dst, int dst_cols) {  // -> cols x rows
    std::memset(dst, 0, sizeof(float) * cols * dst_cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[c * dst_cols + r] = src[r * cols + c];
}
static void unpack_rows(const float* src, int rows, int cols, int src_cols, float* dst) {
    for (int r = 0; r < rows; r++) std::memcpy(dst + r * cols, src + r * src_cols, sizeof(float) * cols);
}
static void add_into(float* dst, const float* src, int n) {
    for (int i = 0; i < n; i += 8) vstore(dst + i, vadd(vload(dst + i), vload(src + i)));
}

static void pack(const float* p, Packed& w) {
    pack_transposed(p + O_QKV, C, C, w.wqT, CP);
    pack_transposed(p + O_QKV + C * C, C, C, w.wkT, CP);
    pack_transposed(p + O_QKV + 2 * C * C, C, C, w.wvT, CP);
    pack_transposed(p + O_AP, C, C, w.wapT, CP);
    pack_transposed(p + O_FC, H, C, w.wfcT, HP);
    pack_transposed(p + O_MP, C, H, w.wmpT, CP);
    pack_transposed(p + O_WTE, V, C, w.wteT, VP);
    pack_rows(p + O_QKV, C, C, w.wq, CP);
    pack_rows(p + O_QKV + C * C, C, C, w.wk, CP);
    pack_rows(p + O_QKV + 2 * C * C, C, C, w.wv, CP);
    pack_rows(p + O_AP, C, C, w.wap, CP);
    pack_rows(p + O_FC, H, C, w.wfc, CP);
    pack_rows(p + O_MP, C, H, w.wmp, HP);
    pack_rows(p + O_WTE, V, C, w.wte, CP);
    pack_rows(p + O_WPE, T, C, w.wpe, CP);
    pack_rows(p + O_G1, 1, C, w.g1, CP);
    pack_rows(p + O_G2, 1, C, w.g2, CP);
    pack_rows(p + O_GF, 1, C, w.gf, CP);
}

static void unpack_grads(const Grads& g, float* grad) {
    unpack_rows(g.wte, V, C, CP, grad + O_WTE);
    unpack_rows(g.wpe, T, C, CP, grad + O_WPE);
    unpack_rows(g.g1, 1, C, CP, grad + O_G1);
    unpack_rows(g.wq, C, C, CP, grad + O_QKV);
    unpack_rows(g.wk, C, C, CP, grad + O_QKV + C * C);
    unpack_rows(g.wv, C, C, CP, grad + O_QKV + 2 * C * C);
    unpack_rows(g.wap, C, C, CP, grad + O_AP);
    unpack_rows(g.g2, 1, C, CP, grad + O_G2);
    unpack_rows(g.wfc, H, C, CP, grad + O_FC);
    unpack_rows(g.wmp, C, H, HP, grad + O_MP);
    unpack_rows(g.gf, 1, C, CP, grad + O_GF);
}

// --- one chunk of sequences: forward, loss gradient, backward ---------------------------------------
static float chunk_step(const Packed& w, Grads& g, Acts& s, const int32_t* tokens, const int64_t* starts, int n_seq,
                        float inv_n) {
    const int rows = n_seq * T;
    const float scale = 1.0f / std::sqrt((float)C);
    for (int b = 0; b < n_seq; b++)  // x0 = wte[token] + wpe[position]
        for (int t = 0; t < T; t++) {
            int r = b * T + t, tok = tokens[starts[b] + t];
            for (int i = 0; i < CP / 8; i++)
                vstore(s.x0 + r * CP + 8 * i, vadd(vload(w.wte + tok * CP + 8 * i), vload(w.wpe + t * CP + 8 * i)));
        }
    layernorm(s.x0, w.g1, s.xh1, s.rs1, s.a1, rows);
    matmul<C, CP, CP>(s.a1, w.wqT, s.q, rows);
    matmul<C, CP, CP>(s.a1, w.wkT, s.k, rows);
    matmul<C, CP, CP>(s.a1, w.wvT, s.v, rows);
    for (int b = 0; b < n_seq; b++) {  // causal attention, one head of width C
        const float *q = s.q + b * T * CP, *k = s.k + b * T * CP, *v = s.v + b * T * CP;
        float* att = s.att + b * T * T;
        for (int t = 0; t < T; t++) {
            float mx = -INFINITY, row[TP];
            for (int u = 0; u < TP; u++) row[u] = -INFINITY;  // masked: exp gives 0
            for (int u = 0; u <= t; u++) {
                v8 acc = vzero();
                for (int i = 0; i < CP / 8; i++) acc = fma_(vload(q + t * CP + 8 * i), vload(k + u * CP + 8 * i), acc);
                row[u] = vsum(acc) * scale;
                mx = row[u] > mx ? row[u] : mx;
            }
            v8 sum8 = vzero();
            for (int i = 0; i < TP / 8; i++) {
                v8 e = vexp(vsub(vload(row + 8 * i), vset(mx)));
                vstore(row + 8 * i, e);
                sum8 = vadd(sum8, e);
            }
            float sum = vsum(sum8);
            for (int u = 0; u < T; u++) att[t * T + u] = row[u] / sum;
            for (int i = 0; i < CP / 8; i++) {
                v8 acc = vzero();
                for (int u = 0; u <= t; u++) acc = fma_(vset(att[t * T + u]), vload(v + u * CP + 8 * i), acc);
                vstore(s.y + (b * T + t) * CP + 8 * i, acc);
            }
        }
    }
    matmul<C, CP, CP>(s.y, w.wapT, s.x1, rows);
    add_into(s.x1, s.x0, rows * CP);  // x1 = x0 + attention
    layernorm(s.x1, w.g2, s.xh2, s.rs2, s.a2, rows);
    matmul<C, CP, HP>(s.a2, w.wfcT, s.h, rows);
    for (int i = 0; i < rows * HP; i += 8) {  // u = gelu(h) = h (1 + erf(h / sqrt 2)) / 2
        v8 h = vload(s.h + i);
        vstore(s.u + i, vmul(vmul(vset(0.5f), h), vadd(vset(1.0f), verf(vmul(h, vset(0.707106781f))))));
    }
    matmul<H, HP, CP>(s.u, w.wmpT, s.x2, rows);
    add_into(s.x2, s.x1, rows * CP);  // x2 = x1 + mlp
    layernorm(s.x2, w.gf, s.xhf, s.rsf, s.f, rows);
    matmul<C, CP, VP>(s.f, w.wteT, s.logits, rows);

    float loss = 0.0f;  // cross-entropy; the logits become their gradient, (softmax - onehot) / N
    for (int b = 0; b < n_seq; b++)
        for (int t = 0; t < T; t++) {
            int r = b * T + t, target = tokens[starts[b] + t + 1];
            float* l = s.logits + r * VP;
            float mx = l[0];
            for (int j = 1; j < V; j++) mx = l[j] > mx ? l[j] : mx;
            float shifted_target = l[target] - mx;
            v8 acc = vzero();
            for (int i = 0; i < VP / 8; i++) {
                v8 e = vmul(vexp(vsub(vload(l + 8 * i), vset(mx))), vload(vmask + 8 * i));
                vstore(l + 8 * i, e);
                acc = vadd(acc, e);
            }
            float sum = vsum(acc);
            loss += slog(sum) - shifted_target;  // -log softmax(target)
            for (int i = 0; i < VP / 8; i++) vstore(l + 8 * i, vmul(vdiv(vload(l + 8 * i), vset(sum)), vset(inv_n)));
            l[target] -= inv_n;
        }

    // backward
    matmul_back_weight<V, VP, CP>(s.logits, s.f, g.wte, rows);  // lm_head, tied to wte
    matmul<V, VP, CP>(s.logits, w.wte, s.df, rows);
    layernorm_back(s.df, s.xhf, s.rsf, w.gf, g.gf, s.dx, rows);  // dx: the gradient at x2
    matmul_back_weight<C, CP, HP>(s.dx, s.u, g.wmp, rows);
    matmul<C, CP, HP>(s.dx, w.wmp, s.du, rows);
    for (int i = 0; i < rows * HP; i += 8) {  // gelu'(h) = (1 + erf(h / sqrt 2)) / 2 + h exp(-h^2 / 2) / sqrt(2 pi)
        v8 h = vload(s.h + i);
        v8 cdf = vmul(vset(0.5f), vadd(vset(1.0f), verf(vmul(h, vset(0.707106781f)))));
        v8 pdf = vmul(vset(0.398942280f), vexp(vmul(vmul(h, h), vset(-0.5f))));
        vstore(s.du + i, vmul(vload(s.du + i), fma_(h, pdf, cdf)));
    }
    matmul_back_weight<H, HP, CP>(s.du, s.a2, g.wfc, rows);
    matmul<H, HP, CP>(s.du, w.wfc, s.da, rows);
    layernorm_back(s.da, s.xh2, s.rs2, w.g2, g.g2, s.dtmp, rows);
    add_into(s.dx, s.dtmp, rows * CP);  // the gradient at x1: residual + mlp branch
    matmul_back_weight<C, CP, CP>(s.dx, s.y, g.wap, rows);
    matmul<C, CP, CP>(s.dx, w.wap, s.dy, rows);
    std::memset(s.dk, 0, sizeof(float) * rows * CP);
    std::memset(s.dv, 0, sizeof(float) * rows * CP);
    for (int b = 0; b < n_seq; b++) {
        const float *q = s.q + b * T * CP, *k = s.k + b * T * CP, *v = s.v + b * T * CP, *att = s.att + b * T * T;
        float *dq = s.dq + b * T * CP, *dk = s.dk + b * T * CP, *dv = s.dv + b * T * CP;
        const float* dy = s.dy + b * T * CP;
        for (int t = 0; t < T; t++) {
            float datt[T], dot = 0.0f;
            for (int u = 0; u <= t; u++) {
                v8 acc = vzero();
                for (int i = 0; i < CP / 8; i++) acc = fma_(vload(dy + t * CP + 8 * i), vload(v + u * CP + 8 * i), acc);
                datt[u] = vsum(acc);
                dot += att[t * T + u] * datt[u];
                for (int i = 0; i < CP / 8; i++)
                    vstore(dv + u * CP + 8 * i,
                           fma_(vset(att[t * T + u]), vload(dy + t * CP + 8 * i), vload(dv + u * CP + 8 * i)));
            }
            v8 accq[CP / 8];
            for (int i = 0; i < CP / 8; i++) accq[i] = vzero();
            for (int u = 0; u <= t; u++) {
                v8 ds = vset(att[t * T + u] * (datt[u] - dot) * scale);
                for (int i = 0; i < CP / 8; i++) {
                    accq[i] = fma_(ds, vload(k + u * CP + 8 * i), accq[i]);
                    vstore(dk + u * CP + 8 * i, fma_(ds, vload(q + t * CP + 8 * i), vload(dk + u * CP + 8 * i)));
                }
            }
            for (int i = 0; i < CP / 8; i++) vstore(dq + t * CP + 8 * i, accq[i]);
        }
    }
    matmul_back_weight<C, CP, CP>(s.dq, s.a1, g.wq, rows);
    matmul_back_weight<C, CP, CP>(s.dk, s.a1, g.wk, rows);
    matmul_back_weight<C, CP, CP>(s.dv, s.a1, g.wv, rows);
    matmul<C, CP, CP>(s.dq, w.wq, s.da, rows);  // the gradient at a1: the sum of q's, k's and v's
    matmul<C, CP, CP>(s.dk, w.wk, s.dtmp, rows);
    add_into(s.da, s.dtmp, rows * CP);
    matmul<C, CP, CP>(s.dv, w.wv, s.dtmp, rows);
    add_into(s.da, s.dtmp, rows * CP);
    layernorm_back(s.da, s.xh1, s.rs1, w.g1, g.g1, s.dtmp, rows);
    add_into(s.dx, s.dtmp, rows * CP);  // the gradient at x0
    for (int b = 0; b < n_seq; b++)     // into the embeddings, rows in order
        for (int t = 0; t < T; t++) {
            int r = b * T + t, tok = tokens[starts[b] + t];
            for (int i = 0; i < CP / 8; i++) {
                v8 d = vload(s.dx + r * CP + 8 * i);
                vstore(g.wte + tok * CP + 8 * i, vadd(vload(g.wte + tok * CP + 8 * i), d));
                vstore(g.wpe + t * CP + 8 * i, vadd(vload(g.wpe + t * CP + 8 * i), d));
            }
        }
    return loss;
}

static Packed W;
static Grads G, GC;
static Acts S;

extern "C" {

int fused_n_params() { return N_PARAMS; }

// One step: forward and backward over the batch (window starts into `tokens`), in chunks; the
// gradient into grad (flat, the parameters' layout); clipping to grad_clip (0: none); AdamW on
// params with its moments m, v (weight_decay on the 2-D tensors, gain_decay on the gains: 0 as
// in nanoGPT, where p * (1 - lr * 0) is p exactly). Returns the mean loss.
float fused_step(float* params, float* grad, float* m, float* v, const int32_t* tokens, const int64_t* starts,
                 int batch, float lr, float weight_decay, float gain_decay, float beta1, float beta2, float eps,
                 float grad_clip,
                 float bias_correction1, float bias_correction2_sqrt) {
    for (int i = 0; i < CP; i++) cmask[i] = i < C ? 1.0f : 0.0f;
    for (int i = 0; i < VP; i++) vmask[i] = i < V ? 1.0f : 0.0f;
    pack(params, W);
    std::memset(&G, 0, sizeof(G));
    float loss = 0.0f;
    const float inv_n = 1.0f / (float)(batch * T);
    for (int b = 0; b < batch; b += CHUNK) {
        int n_seq = batch - b < CHUNK ? batch - b : CHUNK;
        std::memset(&GC, 0, sizeof(GC));
        loss += chunk_step(W, GC, S, tokens, starts + b, n_seq, inv_n);
        add_into((float*)&G, (const float*)&GC, sizeof(Grads) / sizeof(float));  // chunk sums, in chunk order
    }
    unpack_grads(G, grad);

    v8 ss = vzero();  // clip_grad_norm_: the global norm, scaled by min(1, max / (norm + 1e-6))
    int i = 0;
    for (; i + 8 <= N_PARAMS; i += 8) ss = fma_(vload(grad + i), vload(grad + i), ss);
    float norm2 = vsum(ss);
    for (; i < N_PARAMS; i++) norm2 = std::fmaf(grad[i], grad[i], norm2);
    float coef = 1.0f;
    if (grad_clip > 0.0f) {
        coef = grad_clip / (std::sqrt(norm2) + 1e-6f);
        coef = coef < 1.0f ? coef : 1.0f;
    }
    // AdamW, as torch.optim.AdamW computes it: p *= 1 - lr wd; m += (1 - b1)(g - m);
    // v = b2 v + (1 - b2) g^2; p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
    const float step_size = lr / bias_correction1;
    for (int j = 0; j < N_PARAMS; j++) {
        float gj = grad[j] * coef;
        grad[j] = gj;
        bool decays = j < O_G1 || (j >= O_QKV && j < O_G2) || (j >= O_FC && j < O_GF);  // the 2-D tensors
        float p = params[j] * (1.0f - lr * (decays ? weight_decay : gain_decay));
        float mj = m[j] + (1.0f - beta1) * (gj - m[j]);
        float vj = v[j] * beta2 + (1.0f - beta2) * gj * gj;
        m[j] = mj;
        v[j] = vj;
        params[j] = p - step_size * (mj / (std::sqrt(vj) / bias_correction2_sqrt + eps));
    }
    return loss * inv_n;
}

}  // extern "C"
