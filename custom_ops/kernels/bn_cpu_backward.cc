// The FusedBatchNormGradV3 computation on the CPU (see bn_kernels.h).
//
// Pass 1 reduces sum(dy) and sum(dy * (x - mean)) per channel (short float
// sums added into double, see bn_cpu_blocks.h; blocks merged in block
// order). Pass 2 writes
//   dx = A * dy + B * (x - mean) + D
// with per-channel A = scale * inv_std and, in training,
// B = -A * inv_std * dscale / m, D = -A * doffset / m (B = D = 0 in
// inference), which is scale * inv_std * (dy - mean(dy) - xhat * mean(dy *
// xhat)) with xhat = (x - mean) * inv_std.
#include <math.h>

#include <exception>
#include <vector>

#include "bn_cpu_blocks.h"
#include "bn_cpu_levels.h"
#include "bn_cpu_scratch.h"
#include "bn_cpu_stream.h"
#include "bn_dtype.h"
#include "bn_fma.h"
#include "bn_isa.h"
#include "bn_kernels.h"
#include "bn_validate.h"
#include "bn_vec.h"

BN_ISA_BEGIN
namespace {

// Channels last: dx = a * dy + (b * (x - mean) + d) along a row, with
// per-channel arrays.
inline void GradRowTail(const float* dy, const float* x, float* dx, int64_t len,
                        const float* __restrict__ mean,
                        const float* __restrict__ a,
                        const float* __restrict__ b,
                        const float* __restrict__ d) {
  for (int64_t k = 0; k < len; ++k) {
    dx[k] = MulAdd(a[k], dy[k], MulAdd(b[k], x[k] - mean[k], d[k]));
  }
}

template <typename T>
inline void GradRow(const T* dy, const T* x, T* dx, int64_t len,
                    const float* mean, const float* a, const float* b,
                    const float* d) {
  int64_t k = 0;
  for (; !kIsFloat<T> && k + kVector <= len; k += kVector) {
    StoreV(dx + k,
           MulAdd(LoadV(a + k), LoadV(dy + k),
                  MulAdd(LoadV(b + k), LoadV(x + k) - LoadV(mean + k),
                         LoadV(d + k))));
  }
  if constexpr (kIsFloat<T>) {
    GradRowTail(dy + k, x + k, dx + k, len - k, mean + k, a + k, b + k, d + k);
  } else if (k < len) {
    float dyf[kVector], xf[kVector], dxf[kVector];
    TailToFloat(dy + k, 1, len - k, 0, dyf);
    TailToFloat(x + k, 1, len - k, 0, xf);
    GradRowTail(dyf, xf, dxf, len - k, mean + k, a + k, b + k, d + k);
    TailFromFloat(dxf, len - k, dx + k);
  }
}

#if BN_STREAMING_STORES
// dx = a * dy + (b * (x - mean) + d) with streaming stores where dx is
// aligned (see bn_cpu_stream.h), rounded as the scalar loop. The
// coefficients advance by `step` floats per element (1: per-channel arrays,
// channels last; 0: one channel's scalars). Returns how many elements it
// wrote.
inline int64_t GradStream(const float* dy, const float* x, float* dx,
                          int64_t len, const float* mean, const float* a,
                          const float* b, const float* d, int step) {
  if (!StreamAligned(dx)) return 0;
  auto coef = [step](const float* v, int64_t at) {
    return step ? LoadV(v + at) : SplatV(*v);
  };
  int64_t t = 0;
  for (; t + kVector <= len; t += kVector) {
    const int64_t c = t * step;
    StreamV(dx + t,
            MulAdd(coef(a, c), LoadV(dy + t),
                   MulAdd(coef(b, c), LoadV(x + t) - coef(mean, c),
                          coef(d, c))));
  }
  return t;
}
#endif

// Channels first: the same along one channel's run.
inline void GradRunTail(const float* dy, const float* x, float* dx, int64_t len,
                        float mean, float a, float b, float d) {
  for (int64_t t = 0; t < len; ++t) {
    dx[t] = MulAdd(a, dy[t], MulAdd(b, x[t] - mean, d));
  }
}

template <typename T>
inline void GradRun(const T* dy, const T* x, T* dx, int64_t len, float mean,
                    float a, float b, float d) {
  int64_t t = 0;
  const FloatV va = SplatV(a), vb = SplatV(b), vd = SplatV(d);
  for (; !kIsFloat<T> && t + kVector <= len; t += kVector) {
    StoreV(dx + t,
           MulAdd(va, LoadV(dy + t), MulAdd(vb, LoadV(x + t) - mean, vd)));
  }
  if constexpr (kIsFloat<T>) {
    GradRunTail(dy + t, x + t, dx + t, len - t, mean, a, b, d);
  } else if (t < len) {
    float dyf[kVector], xf[kVector], dxf[kVector];
    TailToFloat(dy + t, 1, len - t, 0, dyf);
    TailToFloat(x + t, 1, len - t, 0, xf);
    GradRunTail(dyf, xf, dxf, len - t, mean, a, b, d);
    TailFromFloat(dxf, len - t, dx + t);
  }
}

template <typename T>
void Backward(const T* dy, const T* x, T* dx, const BlockPlan& p,
              const float* scale, const float* mean, const float* inv_std,
              bool is_training, float* dscale, float* doffset,
              bn_parallel_for_fn parallel_for, void* pf_ctx) {
  const std::vector<float> zeros(p.c, 0.0f);
  const ScratchDoubles partials(2 * p.NumPartials());
  double* part_dy = partials.data();
  double* part_dyxc = part_dy + p.NumPartials();
  ReduceBlocks(p, dy, zeros.data(), x, mean, part_dy, part_dyxc, parallel_for,
               pf_ctx);

  std::vector<double> sum_dy(p.c, 0.0), sum_dyxc(p.c, 0.0);
  MergePartials(
      p, part_dy, part_dyxc,
      [&](int64_t k, double a, double b) {
        sum_dy[k] += a;
        sum_dyxc[k] += b;
      },
      [&](int64_t k) {
        doffset[k] = float(sum_dy[k]);
        dscale[k] = float(sum_dyxc[k] * inv_std[k]);
      },
      parallel_for, pf_ctx);

  std::vector<float> coef_a(p.c), coef_b(p.c), coef_d(p.c);
  const double inv_m = 1.0 / double(p.m);
  for (int64_t k = 0; k < p.c; ++k) {
    const double a = double(scale[k]) * inv_std[k];
    coef_a[k] = float(a);
    coef_b[k] = is_training ? float(-a * inv_std[k] * dscale[k] * inv_m) : 0.0f;
    coef_d[k] = is_training ? float(-a * sum_dy[k] * inv_m) : 0.0f;
  }
  const float* ca = coef_a.data();
  const float* cb = coef_b.data();
  const float* cd = coef_d.data();
  const bool last = p.layout == BN_LAYOUT_CHANNELS_LAST;
  // dx may alias dy (bn_kernels.h), where streaming stays correct: each
  // vector is read before it is written.
  const bool stream = ShouldStream(p, kIsFloat<T>);
  ForEachBlock(
      p,
      [&](const Block& blk) {
        ForEachRun(p, blk, [&](int64_t at, int64_t k, int64_t len) {
          int64_t done = 0;
#if BN_STREAMING_STORES
          if constexpr (kIsFloat<T>) {
            if (stream) {
              done = GradStream(dy + at, x + at, dx + at, len, mean + k,
                                ca + k, cb + k, cd + k, last ? 1 : 0);
            }
          }
#endif
          const int64_t i = at + done;
          if (last) {
            GradRow(dy + i, x + i, dx + i, len - done, mean + k + done,
                    ca + k + done, cb + k + done, cd + k + done);
          } else {
            GradRun(dy + i, x + i, dx + i, len - done, mean[k], ca[k], cb[k],
                    cd[k]);
          }
        });
        if (stream) StreamFence();
      },
      parallel_for, pf_ctx);
}

}  // namespace
BN_ISA_END

extern "C" int BN_ISA_ENTRY(bn_cpu_backward)(const bn_backward_args_t* a,
                                             bn_parallel_for_fn parallel_for,
                                             void* pf_ctx) {
  if (a == nullptr) return BN_ERR_NULL_POINTER;
  const bn_geometry_t& g = a->g;
  const int64_t c = g.c;
  int64_t total = 0;
  int status =
      bn::CheckCall(g.dtype, g.layout, g.n, c, g.s, a->epsilon, &total);
  if (status != BN_OK) return status;
  if (c > 0 && (a->scale == nullptr || a->mean == nullptr ||
                a->variance_or_inv_std == nullptr || a->dscale == nullptr ||
                a->doffset == nullptr)) {
    return BN_ERR_NULL_POINTER;
  }
  if (total > 0 && (a->dy == nullptr || a->x == nullptr || a->dx == nullptr)) {
    return BN_ERR_NULL_POINTER;
  }
  if (total == 0) {
    for (int64_t k = 0; k < c; ++k) a->dscale[k] = a->doffset[k] = 0.0f;
    return BN_OK;
  }
  try {
    std::vector<float> inv_std(a->variance_or_inv_std,
                               a->variance_or_inv_std + c);
    if (!a->is_training) {
      status = BN_ISA_ENTRY(bn_cpu_inv_std)(a->variance_or_inv_std, c,
                                            a->epsilon, inv_std.data());
      if (status != BN_OK) return status;
    }
    const bn::BlockPlan plan(g.layout, g.n, c, g.s);
    bn::DispatchDtype(g.dtype, [&](auto tag) {
      using T = decltype(tag);
      bn::Backward(static_cast<const T*>(a->dy), static_cast<const T*>(a->x),
                   static_cast<T*>(a->dx), plan, a->scale, a->mean,
                   inv_std.data(), a->is_training != 0, a->dscale, a->doffset,
                   parallel_for, pf_ctx);
    });
  } catch (const std::exception&) {
    return BN_ERR_OUT_OF_MEMORY;
  }
  return BN_OK;
}
