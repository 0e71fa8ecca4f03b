// 8 floats at a time, at every instruction-set level.
//
// Float8 is a GCC/Clang vector extension: one AVX register at the avx2 and
// avx512 levels, two SSE registers at the baseline. Load8 / Store8 convert
// on the way in and out, so the kernels compute on registers with no float
// copy of a half or bfloat16 tensor. Unaligned; Store8 rounds as FromFloat
// does. Code that sums in an order tied to the width uses Float8 at every
// level, so that the levels agree bit for bit (bn_cpu_blocks.h).
#ifndef TF_BN_COMPAT_KERNELS_BN_VEC8_H_
#define TF_BN_COMPAT_KERNELS_BN_VEC8_H_

#include <stdint.h>
#include <string.h>

#include "bn_dtype.h"
#include "bn_intrinsics.h"
#include "bn_isa.h"

BN_ISA_BEGIN

constexpr int64_t kVector8 = 8;
typedef float Float8 __attribute__((vector_size(kVector8 * sizeof(float))));

inline Float8 Load8(const float* p) {
  Float8 v;
  memcpy(&v, p, sizeof(v));
  return v;
}
inline void Store8(float* p, Float8 v) { memcpy(p, &v, sizeof(v)); }

inline Float8 Load8(const Half* p) {
#if defined(__F16C__)
  return Float8(_mm256_cvtph_ps(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
#else
  Float8 v;
  for (int i = 0; i < kVector8; ++i) v[i] = ToFloat(p[i]);
  return v;
#endif
}
inline void Store8(Half* p, Float8 v) {
#if defined(__F16C__)
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                   _mm256_cvtps_ph(__m256(v), _MM_FROUND_TO_NEAREST_INT));
#else
  for (int i = 0; i < kVector8; ++i) p[i] = FromFloat<Half>(v[i]);
#endif
}

inline Float8 Load8(const BFloat16* p) {
#if defined(__AVX2__)
  const __m256i wide = _mm256_cvtepu16_epi32(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return Float8(_mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
#else
  Float8 v;
  for (int i = 0; i < kVector8; ++i) v[i] = ToFloat(p[i]);
  return v;
#endif
}
// FloatToBFloat16 on 8 lanes: round to nearest even, NaN made quiet.
inline void Store8(BFloat16* p, Float8 v) {
#if defined(__AVX2__)
  const __m256i u = _mm256_castps_si256(__m256(v));
  const __m256i high = _mm256_srli_epi32(u, 16);
  const __m256i odd = _mm256_and_si256(high, _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_srli_epi32(
      _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd)), 16);
  const __m256i quiet_nan = _mm256_or_si256(high, _mm256_set1_epi32(0x40));
  // |u| > Inf as signed 32-bit integers: both sides are non-negative.
  const __m256i is_nan = _mm256_cmpgt_epi32(
      _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
      _mm256_set1_epi32(0x7f800000));
  const __m256i bits = _mm256_blendv_epi8(rounded, quiet_nan, is_nan);
  // Every lane is below 2^16, so the unsigned saturation is exact.
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                   _mm_packus_epi32(_mm256_castsi256_si128(bits),
                                    _mm256_extracti128_si256(bits, 1)));
#else
  for (int i = 0; i < kVector8; ++i) p[i] = FromFloat<BFloat16>(v[i]);
#endif
}

BN_ISA_END

#endif  // TF_BN_COMPAT_KERNELS_BN_VEC8_H_
