// y = scale * (x - mean) * inv_std + offset on the CPU (see bn_kernels.h):
// alpha = scale * inv_std once per channel, then per element
// y = (x - mean) * alpha + offset, a subtraction and a multiply-add (the
// terms and the element formula are bn_affine.h's, shared with CUDA).
#include <math.h>
#include <stdint.h>

#include <exception>
#include <vector>

#include "bn_affine.h"
#include "bn_cpu_blocks.h"
#include "bn_cpu_levels.h"
#include "bn_cpu_stream.h"
#include "bn_dtype.h"
#include "bn_fma.h"
#include "bn_isa.h"
#include "bn_kernels.h"
#include "bn_validate.h"
#include "bn_vec.h"

BN_ISA_BEGIN
namespace {

// Channels last: y[k] = (x[k] - mean[k]) * alpha[k] + offset[k] along a row.
inline void AffineRowTail(const float* x, float* y, int64_t len,
                          const float* __restrict__ mean,
                          const float* __restrict__ alpha,
                          const float* __restrict__ offset) {
  for (int64_t k = 0; k < len; ++k) {
    y[k] = Normalize(x[k], mean[k], alpha[k], offset[k]);
  }
}

template <typename T>
inline void AffineRow(const T* x, T* y, int64_t len, const float* mean,
                      const float* alpha, const float* offset) {
  int64_t k = 0;
  for (; !kIsFloat<T> && k + kVector <= len; k += kVector) {
    StoreV(y + k, Normalize(LoadV(x + k), LoadV(mean + k), LoadV(alpha + k),
                            LoadV(offset + k)));
  }
  if constexpr (kIsFloat<T>) {
    AffineRowTail(x + k, y + k, len - k, mean + k, alpha + k, offset + k);
  } else if (k < len) {
    float xf[kVector], yf[kVector];
    TailToFloat(x + k, 1, len - k, 0, xf);
    AffineRowTail(xf, yf, len - k, mean + k, alpha + k, offset + k);
    TailFromFloat(yf, len - k, y + k);
  }
}

#if BN_STREAMING_STORES
// y = (x - mean) * alpha + offset with streaming stores where y is aligned
// (see bn_cpu_stream.h), rounded as the scalar loop. Returns how many
// elements it wrote. `mean`, `alpha`, `offset` advance by `step` floats
// per element (1: per channel arrays, channels last; 0: one channel's
// scalars broadcast).
inline int64_t AffineStream(const float* x, float* y, int64_t len,
                            const float* mean, const float* alpha,
                            const float* offset, int step) {
  if (!StreamAligned(y)) return 0;
  auto coef = [step](const float* v, int64_t at) {
    return step ? LoadV(v + at) : SplatV(*v);
  };
  int64_t k = 0;
  for (; k + kVector <= len; k += kVector) {
    const int64_t c = k * step;
    StreamV(y + k, Normalize(LoadV(x + k), coef(mean, c), coef(alpha, c),
                             coef(offset, c)));
  }
  return k;
}
#endif

// Channels first: the same along one channel's run.
inline void AffineRunTail(const float* x, float* y, int64_t len, float mean,
                          float alpha, float offset) {
  for (int64_t t = 0; t < len; ++t) y[t] = Normalize(x[t], mean, alpha, offset);
}

template <typename T>
inline void AffineRun(const T* x, T* y, int64_t len, float mean, float alpha,
                      float offset) {
  int64_t t = 0;
  const FloatV va = SplatV(alpha), vo = SplatV(offset);
  for (; !kIsFloat<T> && t + kVector <= len; t += kVector) {
    StoreV(y + t, Normalize(LoadV(x + t), mean, va, vo));
  }
  if constexpr (kIsFloat<T>) {
    AffineRunTail(x + t, y + t, len - t, mean, alpha, offset);
  } else if (t < len) {
    float xf[kVector], yf[kVector];
    TailToFloat(x + t, 1, len - t, 0, xf);
    AffineRunTail(xf, yf, len - t, mean, alpha, offset);
    TailFromFloat(yf, len - t, y + t);
  }
}

template <typename T>
void Transform(const T* x, T* y, const BlockPlan& p, const float* mean,
               const float* alpha, const float* offset,
               bn_parallel_for_fn parallel_for, void* pf_ctx) {
  const bool last = p.layout == BN_LAYOUT_CHANNELS_LAST;
  const bool stream = ShouldStream(p, kIsFloat<T>);
  ForEachBlock(
      p,
      [&](const Block& blk) {
        ForEachRun(p, blk, [&](int64_t at, int64_t k, int64_t len) {
          int64_t done = 0;
#if BN_STREAMING_STORES
          if constexpr (kIsFloat<T>) {
            if (stream) {
              done = AffineStream(x + at, y + at, len, mean + k, alpha + k,
                                  offset + k, last ? 1 : 0);
            }
          }
#endif
          if (last) {
            AffineRow(x + at + done, y + at + done, len - done,
                      mean + k + done, alpha + k + done, offset + k + done);
          } else {
            AffineRun(x + at + done, y + at + done, len - done, mean[k],
                      alpha[k], offset[k]);
          }
        });
        if (stream) StreamFence();
      },
      parallel_for, pf_ctx);
}

}  // namespace
BN_ISA_END

extern "C" int BN_ISA_ENTRY(bn_cpu_inv_std)(const float* variance, int64_t c,
                                           float epsilon, float* inv_std) {
  if (c < 0) return BN_ERR_BAD_SIZE;
  int status = bn::CheckEpsilon(epsilon);
  if (status != BN_OK) return status;
  if (c > 0 && (variance == nullptr || inv_std == nullptr)) {
    return BN_ERR_NULL_POINTER;
  }
  for (int64_t k = 0; k < c; ++k) {
    inv_std[k] = bn::InvStd(variance[k], epsilon);
  }
  return BN_OK;
}

extern "C" int BN_ISA_ENTRY(bn_cpu_transform)(const bn_transform_args_t* a,
                                              bn_parallel_for_fn parallel_for,
                                              void* pf_ctx) {
  if (a == nullptr) return BN_ERR_NULL_POINTER;
  const bn_geometry_t& g = a->g;
  int64_t total = 0;
  const int status = bn::CheckShape(g.dtype, g.layout, g.n, g.c, g.s, &total);
  if (status != BN_OK) return status;
  if (total == 0) return BN_OK;
  if (a->x == nullptr || a->y == nullptr || a->scale == nullptr ||
      a->offset == nullptr || a->mean == nullptr || a->inv_std == nullptr) {
    return BN_ERR_NULL_POINTER;
  }
  try {
    std::vector<float> alpha(g.c);
    for (int64_t k = 0; k < g.c; ++k) {
      alpha[k] = bn::Alpha(a->scale[k], a->inv_std[k]);
    }
    const bn::BlockPlan plan(g.layout, g.n, g.c, g.s);
    bn::DispatchDtype(g.dtype, [&](auto tag) {
      using T = decltype(tag);
      bn::Transform(static_cast<const T*>(a->x), static_cast<T*>(a->y), plan,
                    a->mean, alpha.data(), a->offset, parallel_for, pf_ctx);
    });
  } catch (const std::exception&) {
    return BN_ERR_OUT_OF_MEMORY;
  }
  return BN_OK;
}
