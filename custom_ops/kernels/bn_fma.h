// MulAdd(a, b, c) = a * b + c: fused (one rounding) at the levels with FMA,
// a product and a sum (two roundings) at the baseline.
//
// The kernels are compiled with -ffp-contract=off (custom_ops/build_spec.bzl),
// so MulAdd is the only place a product and a sum are fused. Left to
// itself, the compiler fuses a vector loop in one inlined copy and not in
// another, and the bits of a result would hang on alignment, size or thread
// count. With every fusion written out, the scalar, vector and streaming
// forms of a loop round alike, and the avx2 and avx512 levels agree bit for
// bit.
#ifndef TF_BN_COMPAT_KERNELS_BN_FMA_H_
#define TF_BN_COMPAT_KERNELS_BN_FMA_H_

#include "bn_intrinsics.h"
#include "bn_isa.h"
#include "bn_vec.h"
#include "bn_vec8.h"

BN_ISA_BEGIN

inline float MulAdd(float a, float b, float c) {
#if defined(__FMA__)
  return __builtin_fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

inline Float8 MulAdd(Float8 a, Float8 b, Float8 c) {
#if defined(__FMA__)
  return Float8(_mm256_fmadd_ps(__m256(a), __m256(b), __m256(c)));
#else
  return a * b + c;
#endif
}

#if defined(__AVX512F__)
inline FloatV MulAdd(FloatV a, FloatV b, FloatV c) {
  return FloatV(_mm512_fmadd_ps(__m512(a), __m512(b), __m512(c)));
}
#endif

BN_ISA_END

#endif  // TF_BN_COMPAT_KERNELS_BN_FMA_H_
