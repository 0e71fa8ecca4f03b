// Chan et al.'s pairwise merge of (count, mean, M2) moments, with which the
// CUDA statistics merge their blocks' partial sums, and Bessel's correction,
// shared with the CPU statistics (whose blocks are merged by plain sums, see
// bn_cpu_stats.cc).
#ifndef TF_BN_COMPAT_KERNELS_BN_MERGE_H_
#define TF_BN_COMPAT_KERNELS_BN_MERGE_H_

#include "bn_host_device.h"
#include "bn_isa.h"

BN_ISA_BEGIN

// Moments of a set of values shifted by a per-channel constant K:
// mean = mean(x - K), m2 = sum((x - mean(x))^2).
template <typename Acc>
struct Moments {
  Acc count;
  Acc mean;
  Acc m2;
};

// Moments of `count` values from their shifted sums sum(x - K), sum((x-K)^2).
// The shift keeps the subtraction below well conditioned.
template <typename Acc>
inline BN_HOST_DEVICE Moments<Acc> MomentsFromShiftedSums(Acc count, Acc sum,
                                                          Acc sum_sq) {
  Moments<Acc> r;
  r.count = count;
  r.mean = count > Acc(0) ? sum / count : Acc(0);
  Acc m2 = sum_sq - sum * r.mean;
  // Rounding can leave a tiny negative M2; NaN stays NaN (the comparison is
  // false for it).
  r.m2 = m2 < Acc(0) ? Acc(0) : m2;
  return r;
}

// Chan's parallel update: moments of the union of a's and b's sets.
template <typename Acc>
inline BN_HOST_DEVICE Moments<Acc> MergeMoments(const Moments<Acc>& a,
                                                const Moments<Acc>& b) {
  if (b.count == Acc(0)) return a;
  if (a.count == Acc(0)) return b;
  Moments<Acc> r;
  r.count = a.count + b.count;
  const Acc delta = b.mean - a.mean;
  const Acc wb = b.count / r.count;
  r.mean = a.mean + delta * wb;
  r.m2 = a.m2 + b.m2 + delta * delta * a.count * wb;
  return r;
}

// Bessel's correction as FusedBatchNormV3 reports it: m / max(m - 1, 1).
template <typename Acc>
inline BN_HOST_DEVICE Acc BesselFactor(Acc count) {
  return count / (count - Acc(1) > Acc(1) ? count - Acc(1) : Acc(1));
}

BN_ISA_END

#endif  // TF_BN_COMPAT_KERNELS_BN_MERGE_H_
