// The normalization's per-channel terms, one definition for the CPU and CUDA
// kernels:
//
//   y = scale * (x - mean) * inv_std + offset = (x - mean) * alpha + offset,
//   inv_std = 1 / sqrt(variance + epsilon),  alpha = scale * inv_std.
//
// The transform subtracts the mean from x before it scales. The one-FMA form
// x * alpha + (offset - mean * alpha) folds the mean into the constant term,
// which then cancels against x * alpha: it loses |mean * alpha| * 2^-24,
// all of the result once |mean| / std nears 1e7 and a visible part at 1e4.
#ifndef TF_BN_COMPAT_KERNELS_BN_AFFINE_H_
#define TF_BN_COMPAT_KERNELS_BN_AFFINE_H_

#include <math.h>

#include "bn_host_device.h"
#include "bn_isa.h"
#if !defined(__CUDACC__)
#include "bn_fma.h"
#endif

BN_ISA_BEGIN

#if defined(__CUDACC__)
// a * b + c with one rounding, as bn_fma.h's MulAdd at the levels with FMA.
inline BN_HOST_DEVICE float MulAdd(float a, float b, float c) {
  return fmaf(a, b, c);
}
#endif

// 1 / sqrt(variance + epsilon), in double, rounded once to float.
inline BN_HOST_DEVICE float InvStd(float variance, float epsilon) {
  return float(1.0 / sqrt(double(variance) + epsilon));
}

// The per-channel multiplier of x - mean.
inline BN_HOST_DEVICE float Alpha(float scale, float inv_std) {
  return scale * inv_std;
}

// (x - mean) * alpha + offset for one element, or for a vector of elements
// (with per-element or broadcast terms), with MulAdd's rounding.
template <typename V, typename M, typename A>
inline BN_HOST_DEVICE V Normalize(V x, M mean, A alpha, A offset) {
  return MulAdd(x - mean, alpha, offset);
}

BN_ISA_END

#endif  // TF_BN_COMPAT_KERNELS_BN_AFFINE_H_
