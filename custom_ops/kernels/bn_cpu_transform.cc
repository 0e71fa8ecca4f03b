// y = x * alpha + beta on the CPU (see bn_kernels.h).
//
// With alpha = scale * inv_std and beta = offset - mean * alpha (computed once
// per channel), y = scale * (x - mean) * inv_std + offset costs one fused
// multiply-add per element.
#include <math.h>

#include <exception>
#include <vector>

#include "bn_cpu_blocks.h"
#include "bn_dtype.h"
#include "bn_kernels.h"
#include "bn_validate.h"

namespace bn {
namespace {

template <typename T>
void Transform(const T* x, T* y, const BlockPlan& p, const float* alpha,
               const float* beta, bn_parallel_for_fn parallel_for,
               void* pf_ctx) {
  MapBlocks(
      p,
      [x, y, alpha, beta](int64_t i, int64_t k) {
        y[i] = FromFloat<T>(ToFloat(x[i]) * alpha[k] + beta[k]);
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
    std::vector<float> alpha(c), beta(c);
    for (int64_t k = 0; k < c; ++k) {
      alpha[k] = scale[k] * inv_std[k];
      beta[k] = offset[k] - mean[k] * alpha[k];
    }
    const bn::BlockPlan plan(layout, n, c, s);
    bn::DispatchDtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      bn::Transform(static_cast<const T*>(x), static_cast<T*>(y), plan,
                    alpha.data(), beta.data(), parallel_for, pf_ctx);
    });
  } catch (const std::exception&) {
    return BN_ERR_OUT_OF_MEMORY;
  }
  return BN_OK;
}
