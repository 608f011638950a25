// Fused CPU selective scan (forward and backward), mamba-ssm selective_scan_fn semantics, fp32.
//
// Why this layout: a CPU Mamba-1 scan is exp-bound (N exps per (b, d, l) element). One lane
// (b, d) keeps its state h[N] in registers and vectorises over n; the time loop is sequential.
// Threads own contiguous ranges of lanes. Each thread walks the sequence chunk by chunk and, for
// each chunk, all of its lanes, so the chunk's B/C slices (and, in the backward pass, the
// per-thread dB/dC accumulators) stay in L1/L2 instead of being streamed once per lane.
//
// Layouts (the Python wrapper prepares them):
//   u, delta, z, gout, out, gu, gdelta, gz : [b, d, L] contiguous
//   Bt, Ct                                 : [b, G, L, N] (time-major, n innermost)
//   A : [d, N];  D, bias : [d] or empty
//   bounds : [b, d, nchunks, N]   state entering chunk k in scan order (saved by the forward)
//   gBt, gCt (backward, per thread)        : [threads, b, G, L, N]
//   gA, gD, gbias (backward, per batch)    : [b, d, N], [b, d], [b, d]  (summed over b in Python)
//
// Math per lane and state n:  h_t = a_t h_prev + dt_t u_t B_t[n],  a_t = exp(dt_t A[n]),
// y_t = sum_n C_t[n] h_t[n] + D u_t,  out_t = y_t silu(z_t).  "prev" is t-1 (forward) or t+1
// (reverse). Adjoint: g_t = C_t gy_t + a_next g_next.

#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#define SS_AVX512 1
#endif

namespace {

constexpr int kMaxRuntimeN = 256;

// exp with a clamped argument: |rel err| < 2e-7 over [-87, 88]; below -87.3 it returns ~1e-38
// instead of a denormal/0 (absolute error < 1.2e-38). Plain arithmetic and bit ops, so the
// compiler vectorises it inside `omp simd` loops without libm calls.
static inline float exp_clamped(float x) {
  x = std::min(std::max(x, -87.3f), 88.7f);
  const float k = std::nearbyint(x * 1.44269504088896341f);
  float r = std::fma(k, -0.693145751953125f, x);  // ln2 split in hi + lo for an exact reduction
  r = std::fma(k, -1.428606765330187e-06f, r);
  float p = 1.0f / 5040.0f;
  p = std::fma(p, r, 1.0f / 720.0f);
  p = std::fma(p, r, 1.0f / 120.0f);
  p = std::fma(p, r, 1.0f / 24.0f);
  p = std::fma(p, r, 1.0f / 6.0f);
  p = std::fma(p, r, 0.5f);
  p = std::fma(p, r, 1.0f);
  p = std::fma(p, r, 1.0f);
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// log1p(y) for y in [0, 1] through 2 atanh(y / (2 + y)): accurate for tiny y (no 1 + y rounding).
static inline float log1p_unit(float y) {
  const float s = y / (2.0f + y);
  const float s2 = s * s;
  float p = 1.0f / 15.0f;
  p = std::fma(p, s2, 1.0f / 13.0f);
  p = std::fma(p, s2, 1.0f / 11.0f);
  p = std::fma(p, s2, 1.0f / 9.0f);
  p = std::fma(p, s2, 1.0f / 7.0f);
  p = std::fma(p, s2, 1.0f / 5.0f);
  p = std::fma(p, s2, 1.0f / 3.0f);
  p = std::fma(p, s2, 1.0f);
  return 2.0f * s * p;
}


#ifdef SS_AVX512
// 16-wide exp: clamp, k = round(x / ln2), r = x - k ln2 (two-part ln2), degree-7 Taylor p(r),
// exp = p * 2^k through vscalefps (exact, handles under/overflow). NaN propagates (max/min return
// their second operand when one is NaN).
static inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_set1_ps(-103.9f), x);
  x = _mm512_min_ps(_mm512_set1_ps(88.8f), x);
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040.0f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, k);
}

// out[r] = sum of row r of P ([rows][16]) for rows < `rows`: 16 rows at a time by a transpose-add
// tree (about 3 instructions per row instead of a horizontal reduction per row).
static inline void row_sums16(const float* P, int64_t rows, float* out) {
  int64_t r0 = 0;
  const __m512i perm = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  for (; r0 + 16 <= rows; r0 += 16) {
    const float* p = P + r0 * 16;
    __m512 w[8];
    for (int j = 0; j < 8; ++j) {  // rows 2j, 2j+1 -> 8 partial sums each
      const __m512 a = _mm512_loadu_ps(p + (2 * j) * 16), b = _mm512_loadu_ps(p + (2 * j + 1) * 16);
      w[j] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
    }
    __m512 x[4];
    for (int j = 0; j < 4; ++j) {  // 128-bit block q of x[j] = 4 partial sums of row 4j + q
      const __m512 a = w[2 * j], b = w[2 * j + 1];
      x[j] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xDD));
    }
    const __m512 p0 = _mm512_add_ps(_mm512_unpacklo_ps(x[0], x[1]), _mm512_unpackhi_ps(x[0], x[1]));
    const __m512 p1 = _mm512_add_ps(_mm512_unpacklo_ps(x[2], x[3]), _mm512_unpackhi_ps(x[2], x[3]));
    const __m512d p0d = _mm512_castps_pd(p0), p1d = _mm512_castps_pd(p1);
    // lane 4q + j holds row 4j + q; permute to row order
    const __m512 q = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(p0d, p1d)),
                                   _mm512_castpd_ps(_mm512_unpackhi_pd(p0d, p1d)));
    _mm512_storeu_ps(out + r0, _mm512_permutexvar_ps(perm, q));
  }
  for (; r0 < rows; ++r0) out[r0] = _mm512_reduce_add_ps(_mm512_loadu_ps(P + r0 * 16));
}
#endif

static inline float softplus(float x) { return std::max(x, 0.0f) + log1p_unit(exp_clamped(-std::fabs(x))); }
static inline float sigmoid(float x) { return 1.0f / (1.0f + exp_clamped(-x)); }

struct Geometry {
  int64_t b, d, L, N, G, Dg, T, nchunks;
  int64_t block_chunks;  // chunks a lane runs back to back before the next lane takes over
  bool reverse, softplus, has_D, has_z, has_bias;
  int lane_bg(int64_t lane) const {  // (b, g) slot of lane = bi * d + di
    const int64_t bi = lane / d, di = lane % d;
    return static_cast<int>(bi * G + di / Dg);
  }
};

// Per-chunk, per-lane scratch (sized for the chunk length T, reused across lanes).
// A [b, d, L] input with any strides (the Mamba mixer passes transposed views of projections).
struct Strided {
  const float* p = nullptr;
  int64_t sb = 0, sd = 0, sl = 0;
  Strided() = default;
  explicit Strided(const torch::Tensor& t)
      : p(t.numel() ? t.data_ptr<float>() : nullptr), sb(t.numel() ? t.stride(0) : 0),
        sd(t.numel() ? t.stride(1) : 0), sl(t.numel() ? t.stride(2) : 0) {}
  // times [s, s + T) of lane (bi, di): a pointer into the tensor when time is contiguous,
  // otherwise gathered into dst
  const float* load(float* dst, int64_t bi, int64_t di, int64_t s, int64_t T) const {
    const float* base = p + bi * sb + di * sd + s * sl;
    if (sl == 1) return base;
    for (int64_t i = 0; i < T; ++i) dst[i] = base[i * sl];
    return dst;
  }
};

struct Scratch {
  std::vector<float> dt, dtu, y, sz, dsp;   // [T]
  std::vector<float> uc, dc, zc, goc;       // [T] chunk copies of u, delta, z, gout
  std::vector<float> H, Aexp;               // [(T + 1) * N], [T * N] (backward only)
  std::vector<float> P, Q, sb, sa;          // [T * N] per-step products, [T] their row sums
  explicit Scratch(const Geometry& g, bool backward)
      : dt(g.T), dtu(g.T), y(g.T), sz(g.T), dsp(g.T), uc(g.T), dc(g.T), zc(g.T), goc(g.T),
        P(g.T * g.N), Q(g.T * g.N), sb(g.T), sa(g.T) {
    if (backward) {
      H.resize((g.T + 1) * g.N);
      Aexp.resize(g.T * g.N);
    }
  }
};

// dt = softplus(delta + bias) (or delta + bias), dtu = dt * u for times [s, e) of one lane;
// dsp = d softplus / d x when asked (backward).
static inline void prep_delta(const Geometry& g, const float* dc, const float* uc, float bias, int64_t s,
                              int64_t e, Scratch& sc, bool want_dsp) {
  const int64_t T = e - s;
  const float* delta = dc - s;  // indexed by absolute time below
  const float* u = uc - s;
  float* dt = sc.dt.data();
  float* dtu = sc.dtu.data();
  float* dsp = sc.dsp.data();
  if (g.softplus) {
#pragma omp simd
    for (int64_t i = 0; i < T; ++i) {
      dt[i] = softplus(delta[s + i] + bias);
      dtu[i] = dt[i] * u[s + i];
    }
    if (want_dsp) {
#pragma omp simd
      for (int64_t i = 0; i < T; ++i) dsp[i] = sigmoid(delta[s + i] + bias);
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < T; ++i) {
      dt[i] = delta[s + i] + bias;
      dtu[i] = dt[i] * u[s + i];
    }
    if (want_dsp) std::fill(dsp, dsp + T, 1.0f);
  }
}

#ifdef SS_AVX512
// N = 16: the state is one register.
template <bool keep>
static inline void lane_chunk_forward16(const Geometry& g, int64_t s, int64_t e, const float* A,
                                        const float* Bt, const float* Ct, float* h, Scratch& sc) {
  const int64_t T = e - s;
  __m512 hv = _mm512_loadu_ps(h);
  const __m512 Av = _mm512_loadu_ps(A);
  if (keep) _mm512_storeu_ps(sc.H.data(), hv);
  for (int64_t k = 0; k < T; ++k) {
    const int64_t i = g.reverse ? T - 1 - k : k;
    const __m512 a = exp16(_mm512_mul_ps(_mm512_set1_ps(sc.dt[i]), Av));
    const __m512 bu = _mm512_mul_ps(_mm512_set1_ps(sc.dtu[i]), _mm512_loadu_ps(Bt + (s + i) * 16));
    hv = _mm512_fmadd_ps(a, hv, bu);
    if constexpr (keep) {
      _mm512_storeu_ps(sc.Aexp.data() + k * 16, a);
      _mm512_storeu_ps(sc.H.data() + (k + 1) * 16, hv);
    }
    _mm512_storeu_ps(sc.P.data() + i * 16, _mm512_mul_ps(_mm512_loadu_ps(Ct + (s + i) * 16), hv));
  }
  row_sums16(sc.P.data(), T, sc.y.data());
  _mm512_storeu_ps(h, hv);
}
#endif

// One lane through times [s, e) in scan order. h: state [N] in/out. Writes y_t (without D/z) to
// sc.y[t - s]; when `keep` also a_t to sc.Aexp and the states to sc.H (slot i + 1 after the i-th
// step in scan order, slot 0 = the incoming state).
template <int NT, bool keep>
static inline void lane_chunk_forward(const Geometry& g, int64_t s, int64_t e, const float* A,
                                      const float* Bt, const float* Ct, float* h, Scratch& sc) {
#ifdef SS_AVX512
  if constexpr (NT == 16) {
    lane_chunk_forward16<keep>(g, s, e, A, Bt, Ct, h, sc);
    return;
  }
#endif
  const int64_t N = NT > 0 ? NT : g.N;
  const int64_t T = e - s;
  float hl[NT > 0 ? NT : kMaxRuntimeN];
  float Al[NT > 0 ? NT : kMaxRuntimeN];
  for (int64_t n = 0; n < N; ++n) { hl[n] = h[n]; Al[n] = A[n]; }
  if (keep) std::memcpy(sc.H.data(), hl, N * sizeof(float));
  for (int64_t k = 0; k < T; ++k) {
    const int64_t i = g.reverse ? T - 1 - k : k;  // offset in the chunk
    const float dt = sc.dt[i], dtu = sc.dtu[i];
    const float* Bn = Bt + (s + i) * N;
    const float* Cn = Ct + (s + i) * N;
    float y = 0.0f;
    if constexpr (keep) {
      float* ak = sc.Aexp.data() + k * N;
      float* hk = sc.H.data() + (k + 1) * N;
#pragma omp simd reduction(+ : y)
      for (int64_t n = 0; n < N; ++n) {
        const float a = exp_clamped(dt * Al[n]);
        const float hn = std::fma(a, hl[n], dtu * Bn[n]);
        hl[n] = hn;
        hk[n] = hn;
        ak[n] = a;
        y = std::fma(Cn[n], hn, y);
      }
    } else {
#pragma omp simd reduction(+ : y)
      for (int64_t n = 0; n < N; ++n) {
        const float a = exp_clamped(dt * Al[n]);
        hl[n] = std::fma(a, hl[n], dtu * Bn[n]);
        y = std::fma(Cn[n], hl[n], y);
      }
    }
    sc.y[i] = y;
  }
  for (int64_t n = 0; n < N; ++n) h[n] = hl[n];
}

static inline std::pair<int64_t, int64_t> chunk_range(const Geometry& g, int64_t c) {
  const int64_t s = c * g.T;
  return {s, std::min(s + g.T, g.L)};
}

template <int NT>
static void forward_impl(const Geometry& g, const Strided& u, const Strided& delta, const Strided& z,
                         const float* A, const float* Bt, const float* Ct, const float* D,
                         const float* bias, const float* h0, float* out, float* last, float* bounds) {
  const int64_t lanes = g.b * g.d;
  const int64_t N = g.N;
  const int nt = std::max<int>(1, std::min<int64_t>(at::get_num_threads(), lanes));
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num(), nthr = omp_get_num_threads();
    const int64_t l0 = lanes * tid / nthr, l1 = lanes * (tid + 1) / nthr;
    Scratch sc(g, false);
    std::vector<float> state((l1 - l0) * N, 0.0f);
    if (h0) std::memcpy(state.data(), h0 + l0 * N, state.size() * sizeof(float));
    for (int64_t c0 = 0; c0 < g.nchunks; c0 += g.block_chunks) {
     for (int64_t lane = l0; lane < l1; ++lane) {
      for (int64_t ci = c0; ci < std::min(c0 + g.block_chunks, g.nchunks); ++ci) {
        const int64_t c = g.reverse ? g.nchunks - 1 - ci : ci;
        const auto [s, e] = chunk_range(g, c);
        const int64_t di = lane % g.d;
        const int bg = g.lane_bg(lane);
        float* h = state.data() + (lane - l0) * N;
        if (bounds) std::memcpy(bounds + (lane * g.nchunks + c) * N, h, N * sizeof(float));
        const int64_t bi = lane / g.d;
        const float* uc = u.load(sc.uc.data(), bi, di, s, e - s);
        const float* dc = delta.load(sc.dc.data(), bi, di, s, e - s);
        prep_delta(g, dc, uc, g.has_bias ? bias[di] : 0.0f, s, e, sc, false);
        lane_chunk_forward<NT, false>(g, s, e, A + di * N, Bt + bg * g.L * N, Ct + bg * g.L * N, h, sc);
        const float Dv = g.has_D ? D[di] : 0.0f;
        float* o = out + lane * g.L + s;
        const float* y = sc.y.data();
        if (g.has_z) {
          const float* zc = z.load(sc.zc.data(), bi, di, s, e - s);
#pragma omp simd
          for (int64_t i = 0; i < e - s; ++i) o[i] = std::fma(Dv, uc[i], y[i]) * zc[i] * sigmoid(zc[i]);
        } else {
#pragma omp simd
          for (int64_t i = 0; i < e - s; ++i) o[i] = std::fma(Dv, uc[i], y[i]);
        }
      }
    }
    }
    std::memcpy(last + l0 * N, state.data(), state.size() * sizeof(float));
  }
}

#ifdef SS_AVX512
// The adjoint recurrence of one lane over one chunk, backwards in scan order, N = 16.
static inline void adjoint_chunk16(const Geometry& g, int64_t s, int64_t T, Scratch& sc,
                                   const float* gyp, const float* uc, float Dv, const float* Bl,
                                   const float* Cl, float* gBl, float* gCl, float* gl, float* gAl,
                                   const float* Al, float* gul, float* gdl) {
  __m512 gv = _mm512_loadu_ps(gl);
  __m512 gAv = _mm512_loadu_ps(gAl);
  const __m512 Av = _mm512_loadu_ps(Al);
  for (int64_t k = T - 1; k >= 0; --k) {
    const int64_t i = g.reverse ? T - 1 - k : k;
    const int64_t t = s + i;
    const float dt = sc.dt[i], gyf = gyp[i];
    const __m512 gy = _mm512_set1_ps(gyf);
    const __m512 hk = _mm512_loadu_ps(sc.H.data() + (k + 1) * 16);
    const __m512 hp = _mm512_loadu_ps(sc.H.data() + k * 16);
    const __m512 ak = _mm512_loadu_ps(sc.Aexp.data() + k * 16);
    const __m512 gt = _mm512_fmadd_ps(_mm512_loadu_ps(Cl + t * 16), gy, gv);
    float* gCn = gCl + t * 16;
    float* gBn = gBl + t * 16;
    _mm512_storeu_ps(gCn, _mm512_fmadd_ps(gy, hk, _mm512_loadu_ps(gCn)));
    _mm512_storeu_ps(gBn, _mm512_fmadd_ps(gt, _mm512_set1_ps(sc.dtu[i]), _mm512_loadu_ps(gBn)));
    const __m512 gaa = _mm512_mul_ps(_mm512_mul_ps(gt, hp), ak);
    gAv = _mm512_fmadd_ps(gaa, _mm512_set1_ps(dt), gAv);
    gv = _mm512_mul_ps(ak, gt);
    _mm512_storeu_ps(sc.P.data() + i * 16, _mm512_mul_ps(gt, _mm512_loadu_ps(Bl + t * 16)));
    _mm512_storeu_ps(sc.Q.data() + i * 16, _mm512_mul_ps(gaa, Av));
  }
  _mm512_storeu_ps(gl, gv);
  _mm512_storeu_ps(gAl, gAv);
  float* sb = sc.sb.data();
  float* sa = sc.sa.data();
  row_sums16(sc.P.data(), T, sb);
  row_sums16(sc.Q.data(), T, sa);
  const float* dtp = sc.dt.data();
  const float* dsp = sc.dsp.data();
#pragma omp simd
  for (int64_t i = 0; i < T; ++i) {
    gul[s + i] = std::fma(dtp[i], sb[i], Dv * gyp[i]);
    gdl[s + i] = std::fma(uc[i], sb[i], sa[i]) * dsp[i];
  }
}
#endif

template <int NT>
static void backward_impl(const Geometry& g, const Strided& u, const Strided& delta, const Strided& z,
                          const float* A, const float* Bt, const float* Ct, const float* D,
                          const float* bias, const float* bounds, const Strided& gout,
                          const float* glast, float* gu, float* gdelta, float* gz, float* gA,
                          float* gD, float* gbias, float* gBt, float* gCt, float* ginit, int nt) {
  const int64_t lanes = g.b * g.d;
  const int64_t N = NT > 0 ? NT : g.N;
  const int64_t bgLN = g.b * g.G * g.L * N;
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num(), nthr = omp_get_num_threads();
    const int64_t l0 = lanes * tid / nthr, l1 = lanes * (tid + 1) / nthr;
    Scratch sc(g, true);
    std::vector<float> gy(g.T);
    std::vector<float> carry((l1 - l0) * N, 0.0f);  // adjoint flowing into the next chunk processed
    if (glast) std::memcpy(carry.data(), glast + l0 * N, carry.size() * sizeof(float));
    float* gB_thr = gBt + tid * bgLN;
    float* gC_thr = gCt + tid * bgLN;
    float gl[NT > 0 ? NT : kMaxRuntimeN];
    float gAl[NT > 0 ? NT : kMaxRuntimeN];
    float Al[NT > 0 ? NT : kMaxRuntimeN];
    for (int64_t c0 = 0; c0 < g.nchunks; c0 += g.block_chunks) {
     for (int64_t lane = l0; lane < l1; ++lane) {
      for (int64_t ci = c0; ci < std::min(c0 + g.block_chunks, g.nchunks); ++ci) {
        // chunks in the opposite of scan order
        const int64_t c = g.reverse ? ci : g.nchunks - 1 - ci;
        const auto [s, e] = chunk_range(g, c);
        const int64_t T = e - s;
        const int64_t di = lane % g.d;
        const int bg = g.lane_bg(lane);
        const int64_t bi = lane / g.d;
        const float* uc = u.load(sc.uc.data(), bi, di, s, T);
        const float* dc = delta.load(sc.dc.data(), bi, di, s, T);
        const float* go = gout.load(sc.goc.data(), bi, di, s, T);
        const float* zc = g.has_z ? z.load(sc.zc.data(), bi, di, s, T) : nullptr;
        const float* Bl = Bt + bg * g.L * N;
        const float* Cl = Ct + bg * g.L * N;
        prep_delta(g, dc, uc, g.has_bias ? bias[di] : 0.0f, s, e, sc, true);
        float h[NT > 0 ? NT : kMaxRuntimeN];
        std::memcpy(h, bounds + (lane * g.nchunks + c) * N, N * sizeof(float));
        lane_chunk_forward<NT, true>(g, s, e, A + di * N, Bl, Cl, h, sc);
        // output-side gradients, vectorised over time
        const float Dv = g.has_D ? D[di] : 0.0f;
        const bool has_z = g.has_z;
        float* gzl = g.has_z ? gz + lane * g.L + s : nullptr;
        float gDacc = 0.0f;
        float* gyp = gy.data();
        const float* yp = sc.y.data();
        // separate branch-free loops: a loop mixing the z branch and the gD reduction stays scalar
        if (has_z) {
#pragma omp simd
          for (int64_t i = 0; i < T; ++i) {
            const float yv = std::fma(Dv, uc[i], yp[i]);
            const float zv = zc[i];
            const float sg = sigmoid(zv);
            gzl[i] = go[i] * yv * sg * (1.0f + zv * (1.0f - sg));
            gyp[i] = go[i] * zv * sg;
          }
        } else {
          std::memcpy(gyp, go, T * sizeof(float));
        }
#pragma omp simd reduction(+ : gDacc)
        for (int64_t i = 0; i < T; ++i) gDacc = std::fma(gyp[i], uc[i], gDacc);
        if (g.has_D) gD[lane] += gDacc;
        // adjoint recurrence, backwards in scan order
        float* cl = carry.data() + (lane - l0) * N;
        for (int64_t n = 0; n < N; ++n) { gl[n] = cl[n]; gAl[n] = 0.0f; Al[n] = A[di * N + n]; }
        float* gul = gu + lane * g.L;
        float* gdl = gdelta + lane * g.L;
        float* gBl = gB_thr + bg * g.L * N;
        float* gCl = gC_thr + bg * g.L * N;
#ifdef SS_AVX512
        if constexpr (NT == 16) {
          adjoint_chunk16(g, s, T, sc, gyp, uc, Dv, Bl, Cl, gBl, gCl, gl, gAl, Al, gul, gdl);
        } else
#endif
        {
          for (int64_t k = T - 1; k >= 0; --k) {
            const int64_t i = g.reverse ? T - 1 - k : k;  // offset in the chunk of the k-th step
            const int64_t t = s + i;
            const float dt = sc.dt[i], dtu = sc.dtu[i], gyv = gyp[i];
            const float* hk = sc.H.data() + (k + 1) * N;  // state after the step
            const float* hp = sc.H.data() + k * N;        // state before it
            const float* ak = sc.Aexp.data() + k * N;
            const float* Bn = Bl + t * N;
            const float* Cn = Cl + t * N;
            float* gBn = gBl + t * N;
            float* gCn = gCl + t * N;
            float sb = 0.0f, sa = 0.0f;
  #pragma omp simd reduction(+ : sb, sa)
            for (int64_t n = 0; n < N; ++n) {
              const float gt = std::fma(Cn[n], gyv, gl[n]);
              gCn[n] = std::fma(gyv, hk[n], gCn[n]);
              gBn[n] = std::fma(gt, dtu, gBn[n]);
              sb = std::fma(gt, Bn[n], sb);
              const float gaa = gt * hp[n] * ak[n];
              sa = std::fma(gaa, Al[n], sa);
              gAl[n] = std::fma(gaa, dt, gAl[n]);
              gl[n] = ak[n] * gt;
            }
            const float gdt = std::fma(uc[i], sb, sa);
            gul[t] = std::fma(dt, sb, Dv * gyv);
            gdl[t] = gdt * sc.dsp[i];
          }
        }
        std::memcpy(cl, gl, N * sizeof(float));
        float* gAlane = gA + lane * N;
#pragma omp simd
        for (int64_t n = 0; n < N; ++n) gAlane[n] += gAl[n];
        if (g.has_bias) {
          float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
          for (int64_t i = 0; i < T; ++i) acc += gdl[s + i];
          gbias[lane] += acc;
        }
      }
    }
    }
    if (ginit) std::memcpy(ginit + l0 * N, carry.data(), carry.size() * sizeof(float));
  }
}

Geometry make_geometry(const torch::Tensor& u, const torch::Tensor& A, const torch::Tensor& Bt,
                       int64_t chunk, bool reverse, bool softplus, bool has_D, bool has_z,
                       bool has_bias) {
  Geometry g;
  g.b = u.size(0); g.d = u.size(1); g.L = u.size(2); g.N = A.size(1); g.G = Bt.size(1);
  TORCH_CHECK(g.G >= 1 && g.d % g.G == 0, "selective_scan(cpp): d not divisible by the B/C groups");
  TORCH_CHECK(g.N <= kMaxRuntimeN, "selective_scan(cpp): d_state > ", kMaxRuntimeN, " is not supported");
  g.Dg = g.d / g.G;
  g.T = std::max<int64_t>(1, std::min<int64_t>(chunk, std::max<int64_t>(g.L, 1)));
  g.nchunks = (g.L + g.T - 1) / g.T;
  // ~1024 steps per block: the block's B/C slices (and dB/dC accumulators) stay in L2 while a
  // lane reads its own inputs in long contiguous runs (few TLB misses, prefetch-friendly)
  g.block_chunks = std::max<int64_t>(1, 1024 / g.T);
  g.reverse = reverse; g.softplus = softplus; g.has_D = has_D; g.has_z = has_z; g.has_bias = has_bias;
  return g;
}

void check_f32(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous(),
              "selective_scan(cpp): ", name, " must be a contiguous fp32 CPU tensor");
}

void check_f32_any(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && (t.numel() == 0 || t.dim() == 3),
              "selective_scan(cpp): ", name, " must be a [b, d, L] fp32 CPU tensor");
}

const float* opt_ptr(const torch::Tensor& t) { return t.numel() ? t.data_ptr<float>() : nullptr; }

}  // namespace

// Returns (out [b, d, L], last [b, d, N], bounds [b, d, nchunks, N] or empty).
std::vector<torch::Tensor> scan_fwd(torch::Tensor u, torch::Tensor delta, torch::Tensor A,
                                    torch::Tensor Bt, torch::Tensor Ct, torch::Tensor D,
                                    torch::Tensor z, torch::Tensor bias, torch::Tensor h0,
                                    bool softplus, bool reverse, int64_t chunk, bool keep_bounds) {
  for (auto* p : {&u, &delta, &z}) check_f32_any(*p, "u/delta/z");
  for (auto* p : {&A, &Bt, &Ct, &D, &bias, &h0}) check_f32(*p, "A/B/C/D/delta_bias/initial_state");
  Geometry g = make_geometry(u, A, Bt, chunk, reverse, softplus, D.numel() > 0, z.numel() > 0,
                             bias.numel() > 0);
  TORCH_CHECK(delta.sizes() == u.sizes() && (z.numel() == 0 || z.sizes() == u.sizes()),
              "selective_scan(cpp): delta and z must have the shape of u");
  auto out = torch::empty({g.b, g.d, g.L}, u.options());
  auto last = torch::empty({g.b, g.d, g.N}, u.options());
  auto bounds = keep_bounds ? torch::empty({g.b, g.d, g.nchunks, g.N}, u.options()) : torch::empty({0}, u.options());
  if (g.L == 0) { last.zero_(); if (h0.numel()) last.copy_(h0); return {out, last, bounds}; }
  auto run = [&](auto tag) {
    constexpr int NT = decltype(tag)::value;
    forward_impl<NT>(g, Strided(u), Strided(delta), Strided(z), A.data_ptr<float>(),
                     Bt.data_ptr<float>(), Ct.data_ptr<float>(), opt_ptr(D), opt_ptr(bias), opt_ptr(h0),
                     out.data_ptr<float>(), last.data_ptr<float>(), keep_bounds ? bounds.data_ptr<float>() : nullptr);
  };
  if (g.N == 16) run(std::integral_constant<int, 16>{});
  else if (g.N == 8) run(std::integral_constant<int, 8>{});
  else run(std::integral_constant<int, 0>{});
  return {out, last, bounds};
}

// Returns (gu, gdelta, gz|empty, gA [b,d,N], gD [b,d]|empty, gbias [b,d]|empty,
//          gBt [threads,b,G,L,N], gCt [threads,b,G,L,N], ginit [b,d,N]|empty).
std::vector<torch::Tensor> scan_bwd(torch::Tensor u, torch::Tensor delta, torch::Tensor A,
                                    torch::Tensor Bt, torch::Tensor Ct, torch::Tensor D,
                                    torch::Tensor z, torch::Tensor bias, torch::Tensor bounds,
                                    torch::Tensor gout, torch::Tensor glast, bool softplus,
                                    bool reverse, int64_t chunk, bool want_ginit) {
  for (auto* p : {&u, &delta, &z, &gout}) check_f32_any(*p, "u/delta/z/grad");
  for (auto* p : {&A, &Bt, &Ct, &D, &bias, &bounds, &glast}) check_f32(*p, "A/B/C/D/delta_bias/state");
  Geometry g = make_geometry(u, A, Bt, chunk, reverse, softplus, D.numel() > 0, z.numel() > 0,
                             bias.numel() > 0);
  TORCH_CHECK(delta.sizes() == u.sizes() && (z.numel() == 0 || z.sizes() == u.sizes()),
              "selective_scan(cpp): delta and z must have the shape of u");
  TORCH_CHECK(gout.sizes() == u.sizes(), "selective_scan(cpp): the output gradient must have the shape of u");
  const int nt = std::max<int>(1, std::min<int64_t>(at::get_num_threads(), g.b * g.d));
  auto opts = u.options();
  auto gu = torch::empty({g.b, g.d, g.L}, opts), gdelta = torch::empty({g.b, g.d, g.L}, opts);
  auto gz = g.has_z ? torch::empty({g.b, g.d, g.L}, opts) : torch::empty({0}, opts);
  auto gA = torch::zeros({g.b, g.d, g.N}, opts);
  auto gD = g.has_D ? torch::zeros({g.b, g.d}, opts) : torch::empty({0}, opts);
  auto gbias = g.has_bias ? torch::zeros({g.b, g.d}, opts) : torch::empty({0}, opts);
  auto gBt = torch::zeros({nt, g.b, g.G, g.L, g.N}, opts);
  auto gCt = torch::zeros({nt, g.b, g.G, g.L, g.N}, opts);
  auto ginit = want_ginit ? torch::empty({g.b, g.d, g.N}, opts) : torch::empty({0}, opts);
  if (g.L == 0) { if (want_ginit) { ginit.zero_(); if (glast.numel()) ginit.copy_(glast); } return {gu, gdelta, gz, gA, gD, gbias, gBt, gCt, ginit}; }
  auto run = [&](auto tag) {
    constexpr int NT = decltype(tag)::value;
    backward_impl<NT>(g, Strided(u), Strided(delta), Strided(z), A.data_ptr<float>(),
                      Bt.data_ptr<float>(), Ct.data_ptr<float>(), opt_ptr(D), opt_ptr(bias),
                      bounds.data_ptr<float>(), Strided(gout), opt_ptr(glast),
                      gu.data_ptr<float>(), gdelta.data_ptr<float>(), g.has_z ? gz.data_ptr<float>() : nullptr,
                      gA.data_ptr<float>(), g.has_D ? gD.data_ptr<float>() : nullptr,
                      g.has_bias ? gbias.data_ptr<float>() : nullptr, gBt.data_ptr<float>(),
                      gCt.data_ptr<float>(), want_ginit ? ginit.data_ptr<float>() : nullptr, nt);
  };
  if (g.N == 16) run(std::integral_constant<int, 16>{});
  else if (g.N == 8) run(std::integral_constant<int, 8>{});
  else run(std::integral_constant<int, 0>{});
  return {gu, gdelta, gz, gA, gD, gbias, gBt, gCt, ginit};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("scan_fwd", &scan_fwd, "fused selective scan forward (CPU, fp32)");
  m.def("scan_bwd", &scan_bwd, "fused selective scan backward (CPU, fp32)");
}
