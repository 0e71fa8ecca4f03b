// The FusedBatchNormV3 forward on the CPU: statistics (training), transform
// and the running-statistics update (see bn_kernels.h).
#include <math.h>

#include <exception>
#include <limits>
#include <vector>

#include "bn_kernels.h"
#include "bn_validate.h"

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

extern "C" const char* bn_status_string(int status) {
  switch (status) {
    case BN_OK: return "ok";
    case BN_ERR_NULL_POINTER: return "a required pointer is NULL";
    case BN_ERR_BAD_SIZE: return "negative or overflowing size";
    case BN_ERR_BAD_LAYOUT: return "unknown layout";
    case BN_ERR_BAD_DTYPE: return "unknown dtype";
    case BN_ERR_BAD_EPSILON: return "epsilon must be finite and >= 0";
    case BN_ERR_BAD_FACTOR: return "exponential_avg_factor must be finite";
    case BN_ERR_OUT_OF_MEMORY: return "out of host memory";
    case BN_ERR_CUDA: return "CUDA launch failed";
    default: return "unknown status";
  }
}

extern "C" int bn_cpu_forward(const void* x, void* y, int dtype, int layout,
                              int64_t n, int64_t c, int64_t s,
                              const float* scale, const float* offset,
                              const float* mean_in, const float* var_in,
                              float epsilon, float exponential_avg_factor,
                              int is_training, float* batch_mean,
                              float* batch_var, float* saved_mean,
                              float* saved_inv_std,
                              bn_parallel_for_fn parallel_for, void* pf_ctx) {
  int64_t total = 0;
  int status = bn::CheckShape(dtype, layout, n, c, s, &total);
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
      status = bn_cpu_stats(x, dtype, layout, n, c, s, epsilon, mean.data(),
                            nullptr, var_unbiased.data(), inv_std.data(),
                            parallel_for, pf_ctx);
      if (status != BN_OK) return status;
      // An empty batch leaves NaN statistics even when f != 1 (as TF does).
      if (f != 1.0f && n * s > 0) {
        Blend(mean_in, mean.data(), f, c, batch_mean);
        Blend(var_in, var_unbiased.data(), f, c, batch_var);
      } else {
        CopyOrSkip(mean.data(), c, batch_mean);
        CopyOrSkip(var_unbiased.data(), c, batch_var);
      }
    } else {
      CopyOrSkip(mean_in, c, mean.data());
      status = bn_cpu_inv_std(var_in, c, epsilon, inv_std.data());
      if (status != BN_OK) return status;
      if (n * s > 0) {
        CopyOrSkip(mean_in, c, batch_mean);
        CopyOrSkip(var_in, c, batch_var);
      } else {  // TF reports NaN statistics for an empty batch here too.
        FillNan(batch_mean, c);
        FillNan(batch_var, c);
      }
    }
    CopyOrSkip(mean.data(), c, saved_mean);
    CopyOrSkip(inv_std.data(), c, saved_inv_std);
    return bn_cpu_transform(x, y, dtype, layout, n, c, s, scale, offset,
                            mean.data(), inv_std.data(), parallel_for, pf_ctx);
  } catch (const std::exception&) {
    return BN_ERR_OUT_OF_MEMORY;
  }
}
