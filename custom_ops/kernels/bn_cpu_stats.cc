// Per-channel batch statistics on the CPU (see bn_kernels.h).
//
// Each block accumulates float sums of d = x - K and d^2, K being the
// channel's first (finite) value, so the sums stay small when |mean| >> std;
// the blocks' (count, mean, M2) are merged in double with Chan's formula in
// block order.
#include <math.h>

#include <exception>
#include <limits>
#include <vector>

#include "bn_cpu_blocks.h"
#include "bn_dtype.h"
#include "bn_kernels.h"
#include "bn_merge.h"
#include "bn_validate.h"

namespace bn {
namespace {

template <typename T>
float ChannelShift(const T* x, const BlockPlan& p, int64_t k) {
  const float v = ToFloat(x[p.Offset(0, k, 0)]);
  return isfinite(v) ? v : 0.0f;
}

template <typename T>
void Stats(const T* x, const BlockPlan& p, float epsilon, float* mean,
           float* var_biased, float* var_unbiased, float* inv_std,
           bn_parallel_for_fn parallel_for, void* pf_ctx) {
  std::vector<float> shift(p.c);
  for (int64_t k = 0; k < p.c; ++k) shift[k] = ChannelShift(x, p, k);
  std::vector<float> part_sum(p.NumPartials()), part_sq(p.NumPartials());
  ReduceBlocks(p, x, shift.data(), x, shift.data(), part_sum.data(),
               part_sq.data(), parallel_for, pf_ctx);

  std::vector<Moments<double>> acc(p.c, Moments<double>{0.0, 0.0, 0.0});
  MergePartials(
      p, part_sum.data(), part_sq.data(),
      [&](int64_t k, int64_t count, float sum, float sum_sq) {
        acc[k] = MergeMoments(
            acc[k], MomentsFromShiftedSums<double>(double(count), sum, sum_sq));
      },
      [&](int64_t k) {
        const Moments<double>& mo = acc[k];
        const double biased = mo.m2 / mo.count;
        mean[k] = float(shift[k] + mo.mean);
        if (var_biased) var_biased[k] = float(biased);
        if (var_unbiased) var_unbiased[k] = float(biased * BesselFactor(mo.count));
        if (inv_std) inv_std[k] = float(1.0 / sqrt(double(float(biased)) + epsilon));
      },
      parallel_for, pf_ctx);
}

void FillNan(float* v, int64_t c) {
  if (v == nullptr) return;
  for (int64_t k = 0; k < c; ++k) v[k] = std::numeric_limits<float>::quiet_NaN();
}

}  // namespace
}  // namespace bn

extern "C" int bn_cpu_stats(const void* x, int dtype, int layout, int64_t n,
                            int64_t c, int64_t s, float epsilon, float* mean,
                            float* var_biased, float* var_unbiased,
                            float* inv_std, bn_parallel_for_fn parallel_for,
                            void* pf_ctx) {
  int64_t total = 0;
  int status = bn::CheckCall(dtype, layout, n, c, s, epsilon, &total);
  if (status != BN_OK) return status;
  if (c > 0 && mean == nullptr) return BN_ERR_NULL_POINTER;
  if (total > 0 && x == nullptr) return BN_ERR_NULL_POINTER;
  if (n * s == 0) {
    bn::FillNan(mean, c);
    bn::FillNan(var_biased, c);
    bn::FillNan(var_unbiased, c);
    bn::FillNan(inv_std, c);
    return BN_OK;
  }
  if (c == 0) return BN_OK;
  try {
    const bn::BlockPlan plan(layout, n, c, s);
    bn::DispatchDtype(dtype, [&](auto tag) {
      using T = decltype(tag);
      bn::Stats(static_cast<const T*>(x), plan, epsilon, mean, var_biased,
                var_unbiased, inv_std, parallel_for, pf_ctx);
    });
  } catch (const std::exception&) {
    return BN_ERR_OUT_OF_MEMORY;
  }
  return BN_OK;
}
