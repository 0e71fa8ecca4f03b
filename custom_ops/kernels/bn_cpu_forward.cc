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

extern "C" int BN_ISA_ENTRY(bn_cpu_forward)(const bn_forward_args_t* a,
                                            bn_parallel_for_fn parallel_for,
                                            void* pf_ctx) {
  if (a == nullptr) return BN_ERR_NULL_POINTER;
  const bn_geometry_t& g = a->g;
  const int64_t c = g.c;
  int64_t total = 0;
  int status = bn::CheckForwardCall(g.dtype, g.layout, g.n, c, g.s, a->epsilon,
                                    a->exponential_avg_factor, &total);
  if (status != BN_OK) return status;
  const float f = a->exponential_avg_factor;
  const bool needs_running = !a->is_training || f != 1.0f;
  if (c > 0 &&
      (a->scale == nullptr || a->offset == nullptr ||
       a->batch_mean == nullptr || a->batch_var == nullptr ||
       (needs_running && (a->mean_in == nullptr || a->var_in == nullptr)))) {
    return BN_ERR_NULL_POINTER;
  }
  if (total > 0 && (a->x == nullptr || a->y == nullptr)) {
    return BN_ERR_NULL_POINTER;
  }
  try {
    std::vector<float> mean(c), inv_std(c), var_unbiased(c), var_biased(c);
    if (a->is_training) {
      bn_stats_args_t stats{};
      stats.g = g;
      stats.x = a->x;
      stats.epsilon = a->epsilon;
      stats.mean = mean.data();
      stats.var_unbiased = var_unbiased.data();
      stats.var_biased = a->saved_var != nullptr ? var_biased.data() : nullptr;
      stats.inv_std = inv_std.data();
      status = BN_ISA_ENTRY(bn_cpu_stats)(&stats, parallel_for, pf_ctx);
      if (status != BN_OK) return status;
      // An empty batch leaves NaN statistics even when f != 1 (as TF does).
      if (f != 1.0f && g.n * g.s > 0) {
        bn::Blend(a->mean_in, mean.data(), f, c, a->batch_mean);
        bn::Blend(a->var_in, var_unbiased.data(), f, c, a->batch_var);
      } else {
        bn::CopyOrSkip(mean.data(), c, a->batch_mean);
        bn::CopyOrSkip(var_unbiased.data(), c, a->batch_var);
      }
    } else {
      bn::CopyOrSkip(a->mean_in, c, mean.data());
      bn::CopyOrSkip(a->var_in, c, var_biased.data());
      status = BN_ISA_ENTRY(bn_cpu_inv_std)(a->var_in, c, a->epsilon,
                                            inv_std.data());
      if (status != BN_OK) return status;
      if (g.n * g.s > 0) {
        bn::CopyOrSkip(a->mean_in, c, a->batch_mean);
        bn::CopyOrSkip(a->var_in, c, a->batch_var);
      } else {  // TF reports NaN statistics for an empty batch here too.
        bn::FillNan(a->batch_mean, c);
        bn::FillNan(a->batch_var, c);
      }
    }
    bn::CopyOrSkip(mean.data(), c, a->saved_mean);
    bn::CopyOrSkip(inv_std.data(), c, a->saved_inv_std);
    bn::CopyOrSkip(var_biased.data(), c, a->saved_var);
    bn_transform_args_t transform{};
    transform.g = g;
    transform.x = a->x;
    transform.y = a->y;
    transform.scale = a->scale;
    transform.offset = a->offset;
    transform.mean = mean.data();
    transform.inv_std = inv_std.data();
    return BN_ISA_ENTRY(bn_cpu_transform)(&transform, parallel_for, pf_ctx);
  } catch (const std::exception&) {
    return BN_ERR_OUT_OF_MEMORY;
  }
}
