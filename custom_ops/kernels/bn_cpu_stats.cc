// Per-channel batch statistics on the CPU (see bn_kernels.h).
//
// Each block accumulates sums of d = x - K and d^2 (short float sums added
// into double, see bn_cpu_blocks.h), K being the channel's first (finite)
// value, so the sums stay small when |mean| >> std. Every block of a channel
// shares its K, so the blocks' sums are simply added in double, in block
// order; then mean = K + S1 / m and M2 = S2 - S1 * S1 / m.
#include <math.h>

#include <algorithm>
#include <exception>
#include <limits>
#include <vector>

#include "bn_affine.h"
#include "bn_cpu_blocks.h"
#include "bn_cpu_levels.h"
#include "bn_cpu_scratch.h"
#include "bn_dtype.h"
#include "bn_isa.h"
#include "bn_kernels.h"
#include "bn_merge.h"
#include "bn_validate.h"

BN_ISA_BEGIN
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
  const ScratchDoubles partials(2 * p.NumPartials());
  double* part_sum = partials.data();
  double* part_sq = part_sum + p.NumPartials();
  ReduceBlocks(p, x, shift.data(), x, shift.data(), part_sum, part_sq,
               parallel_for, pf_ctx);

  std::vector<double> sum(p.c, 0.0), sum_sq(p.c, 0.0);
  const double count = double(p.m);
  MergePartials(
      p, part_sum, part_sq,
      [&](int64_t k, double block_sum, double block_sum_sq) {
        sum[k] += block_sum;
        sum_sq[k] += block_sum_sq;
      },
      [&](int64_t k) {
        const double shifted_mean = sum[k] / count;
        // Rounding can leave a tiny negative M2. NaN stays NaN: std::max
        // returns its first argument when the comparison is false.
        const double m2 = std::max(sum_sq[k] - sum[k] * shifted_mean, 0.0);
        const double biased = m2 / count;
        mean[k] = float(shift[k] + shifted_mean);
        if (var_biased) var_biased[k] = float(biased);
        if (var_unbiased) var_unbiased[k] = float(biased * BesselFactor(count));
        if (inv_std) inv_std[k] = InvStd(float(biased), epsilon);
      },
      parallel_for, pf_ctx);
}

void FillNan(float* v, int64_t c) {
  if (v == nullptr) return;
  for (int64_t k = 0; k < c; ++k) v[k] = std::numeric_limits<float>::quiet_NaN();
}

}  // namespace
BN_ISA_END

extern "C" int BN_ISA_ENTRY(bn_cpu_stats)(const bn_stats_args_t* a,
                                          bn_parallel_for_fn parallel_for,
                                          void* pf_ctx) {
  if (a == nullptr) return BN_ERR_NULL_POINTER;
  const bn_geometry_t& g = a->g;
  int64_t total = 0;
  int status =
      bn::CheckCall(g.dtype, g.layout, g.n, g.c, g.s, a->epsilon, &total);
  if (status != BN_OK) return status;
  if (g.c > 0 && a->mean == nullptr) return BN_ERR_NULL_POINTER;
  if (total > 0 && a->x == nullptr) return BN_ERR_NULL_POINTER;
  if (g.n * g.s == 0) {
    for (float* out : {a->mean, a->var_biased, a->var_unbiased, a->inv_std}) {
      bn::FillNan(out, g.c);
    }
    return BN_OK;
  }
  if (g.c == 0) return BN_OK;
  try {
    const bn::BlockPlan plan(g.layout, g.n, g.c, g.s);
    bn::DispatchDtype(g.dtype, [&](auto tag) {
      using T = decltype(tag);
      bn::Stats(static_cast<const T*>(a->x), plan, a->epsilon, a->mean,
                a->var_biased, a->var_unbiased, a->inv_std, parallel_for,
                pf_ctx);
    });
  } catch (const std::exception&) {
    return BN_ERR_OUT_OF_MEMORY;
  }
  return BN_OK;
}
