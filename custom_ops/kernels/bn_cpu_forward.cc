// The FusedBatchNormV3 forward on the CPU: statistics (training), transform
// and the running-statistics update (see bn_kernels.h).
#include <math.h>

#include <exception>
#include <limits>
#include <vector>

#include "bn_cpu_levels.h"
#include "bn_isa.h"
#include "bn_kernels.h"
#include "bn_validate.h"

BN_ISA_BEGIN
namespace {

// out = (1 - f) * running + f * batch, the moving-average update that
// FusedBatchNormV3 applies when exponential_avg_factor f != 1.
void Blend(const float* running, const float* batch, float f, int64_t c,
           float* out) {
  for (int64_t k = 0; k < c; ++k) {
    out[k] = (1.0f - f) * running[k] + f * batch[k];
  }
}

void FillNan(float* v, int64_t c) {
  for (int64_t k = 0; k < c; ++k) v[k] = std::numeric_limits<float>::quiet_NaN();
}

void CopyOrSkip(const float* from, int64_t c, float* to) {
  if (to == nullptr) return;
  for (int64_t k = 0; k < c; ++k) to[k] = from[k];
}

}  // namespace
BN_ISA_END

extern "C" int BN_ISA_ENTRY(bn_cpu_forward)(
    const void* x, void* y, int dtype, int layout, int64_t n, int64_t c,
    int64_t s, const float* scale, const float* offset, const float* mean_in,
    const float* var_in, float epsilon, float exponential_avg_factor,
    int is_training, float* batch_mean, float* batch_var, float* saved_mean,
    float* saved_inv_std, bn_parallel_for_fn parallel_for, void* pf_ctx) {
  int64_t total = 0;
  int status = bn::CheckForwardCall(dtype, layout, n, c, s, epsilon,
                                    exponential_avg_factor, &total);
  if (status != BN_OK) return status;
  const float f = exponential_avg_factor;
  const bool needs_running = !is_training || f != 1.0f;
  if (c > 0 && (scale == nullptr || offset == nullptr ||
                batch_mean == nullptr || batch_var == nullptr ||
                (needs_running && (mean_in == nullptr || var_in == nullptr)))) {
    return BN_ERR_NULL_POINTER;
  }
  if (total > 0 && (x == nullptr || y == nullptr)) return BN_ERR_NULL_POINTER;
  try {
    std::vector<float> mean(c), inv_std(c), var_unbiased(c);
    if (is_training) {
      status = BN_ISA_ENTRY(bn_cpu_stats)(
          x, dtype, layout, n, c, s, epsilon, mean.data(), nullptr,
          var_unbiased.data(), inv_std.data(), parallel_for, pf_ctx);
      if (status != BN_OK) return status;
      // An empty batch leaves NaN statistics even when f != 1 (as TF does).
      if (f != 1.0f && n * s > 0) {
        bn::Blend(mean_in, mean.data(), f, c, batch_mean);
        bn::Blend(var_in, var_unbiased.data(), f, c, batch_var);
      } else {
        bn::CopyOrSkip(mean.data(), c, batch_mean);
        bn::CopyOrSkip(var_unbiased.data(), c, batch_var);
      }
    } else {
      bn::CopyOrSkip(mean_in, c, mean.data());
      status = BN_ISA_ENTRY(bn_cpu_inv_std)(var_in, c, epsilon, inv_std.data());
      if (status != BN_OK) return status;
      if (n * s > 0) {
        bn::CopyOrSkip(mean_in, c, batch_mean);
        bn::CopyOrSkip(var_in, c, batch_var);
      } else {  // TF reports NaN statistics for an empty batch here too.
        bn::FillNan(batch_mean, c);
        bn::FillNan(batch_var, c);
      }
    }
    bn::CopyOrSkip(mean.data(), c, saved_mean);
    bn::CopyOrSkip(inv_std.data(), c, saved_inv_std);
    return BN_ISA_ENTRY(bn_cpu_transform)(x, y, dtype, layout, n, c, s, scale,
                                          offset, mean.data(), inv_std.data(),
                                          parallel_for, pf_ctx);
  } catch (const std::exception&) {
    return BN_ERR_OUT_OF_MEMORY;
  }
}
