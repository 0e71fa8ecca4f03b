// y = scale * (x - mean) * inv_std + offset on the CPU (see bn_kernels.h).
//
// With alpha = scale * inv_std computed once per channel this is
// y = (x - mean) * alpha + offset: a subtraction and a fused multiply-add per
// element. (The one-FMA form x * alpha + (offset - mean * alpha) loses
// |mean * alpha| * 2^-24 to cancellation, visible when |mean| >> std.)
#include <math.h>

#include <exception>
#include <vector>

#include "bn_cpu_blocks.h"
#include "bn_dtype.h"
#include "bn_kernels.h"
#include "bn_validate.h"

namespace bn {
namespace {

// Channels last: y[k] = (x[k] - mean[k]) * alpha[k] + offset[k] along a row.
inline void AffineRow(const float* x, float* y, int64_t len,
                      const float* __restrict__ mean,
                      const float* __restrict__ alpha,
                      const float* __restrict__ offset) {
  for (int64_t k = 0; k < len; ++k) {
    y[k] = (x[k] - mean[k]) * alpha[k] + offset[k];
  }
}

// Channels first: the same along one channel's run.
inline void AffineRun(const float* x, float* y, int64_t len, float mean,
                      float alpha, float offset) {
  for (int64_t t = 0; t < len; ++t) y[t] = (x[t] - mean) * alpha + offset;
}

template <typename T>
void Transform(const T* x, T* y, const BlockPlan& p, const float* mean,
               const float* alpha, const float* offset,
               bn_parallel_for_fn parallel_for,
               void* pf_ctx) {
  const bool last = p.layout == BN_LAYOUT_CHANNELS_LAST;
  ForEachBlock(
      p,
      [&](const Block& blk) {
        FloatIn<T> in;
        FloatOut<T> out;
        ForEachRun(p, blk, [&](int64_t at, int64_t k, int64_t len) {
          ForEachPiece<T>(len, [&](int64_t off, int64_t l) {
            const float* xf = in(x + at + off, l);
            float* yf = out.Begin(y + at + off);
            if (last) {
              const int64_t kk = k + off;
              AffineRow(xf, yf, l, mean + kk, alpha + kk, offset + kk);
            } else {
              AffineRun(xf, yf, l, mean[k], alpha[k], offset[k]);
            }
            out.End(y + at + off, l);
          });
        });
      },
      parallel_for, pf_ctx);
}

}  // namespace
}  // namespace bn

extern "C" int bn_cpu_inv_std(const float* variance, int64_t c, float epsilon,
                              float* inv_std) {
  if (c < 0) return BN_ERR_BAD_SIZE;
  int status = bn::CheckEpsilon(epsilon);
  if (status != BN_OK) return status;
  if (c > 0 && (variance == nullptr || inv_std == nullptr)) {
    return BN_ERR_NULL_POINTER;
  }
  for (int64_t k = 0; k < c; ++k) {
    inv_std[k] = float(1.0 / sqrt(double(variance[k]) + epsilon));
  }
  return BN_OK;
}

extern "C" int bn_cpu_transform(const void* x, void* y, int dtype, int layout,
                                int64_t n, int64_t c, int64_t s,
                                const float* scale, const float* offset,
                                const float* mean, const float* inv_std,
                                bn_parallel_for_fn parallel_for, void* pf_ctx) {
  int64_t total = 0;
  const int status = bn::CheckShape(dtype, layout, n, c, s, &total);
  if (status != BN_OK) return status;
  if (total == 0) return BN_OK;
  if (x == nullptr || y == nullptr || scale == nullptr || offset == nullptr ||
      mean == nullptr || inv_std == nullptr) {
    return BN_ERR_NULL_POINTER;
  }
  try {
    std::vector<float> alpha(c);
    for (int64_t k = 0; k < c; ++k) alpha[k] = scale[k] * inv_std[k];
    const bn::BlockPlan plan(layout, n, c, s);
    bn::DispatchDtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      bn::Transform(static_cast<const T*>(x), static_cast<T*>(y), plan, mean,
                    alpha.data(), offset, parallel_for, pf_ctx);
    });
  } catch (const std::exception&) {
    return BN_ERR_OUT_OF_MEMORY;
  }
  return BN_OK;
}
