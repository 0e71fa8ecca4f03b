// The widest float vector of the instruction-set level: FloatV holds kVector
// floats (16, one AVX-512 register, at the avx512 level; Float8 elsewhere).
// LoadV / StoreV convert half and bfloat16 as Load8 / Store8 do, with the
// same rounding, so code that works element by element gives the same bits
// at every width.
#ifndef TF_BN_COMPAT_KERNELS_BN_VEC_H_
#define TF_BN_COMPAT_KERNELS_BN_VEC_H_

#include <stdint.h>
#include <string.h>

#include "bn_dtype.h"
#include "bn_intrinsics.h"
#include "bn_isa.h"
#include "bn_vec8.h"

BN_ISA_BEGIN

#if defined(__AVX512F__)

constexpr int64_t kVector = 16;
typedef float FloatV __attribute__((vector_size(kVector * sizeof(float))));

inline FloatV LoadV(const float* p) {
  FloatV v;
  memcpy(&v, p, sizeof(v));
  return v;
}
inline void StoreV(float* p, FloatV v) { memcpy(p, &v, sizeof(v)); }

inline FloatV LoadV(const Half* p) {
  return FloatV(_mm512_cvtph_ps(
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
}
inline void StoreV(Half* p, FloatV v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p),
                      _mm512_cvtps_ph(__m512(v), _MM_FROUND_TO_NEAREST_INT));
}

inline FloatV LoadV(const BFloat16* p) {
  const __m512i wide = _mm512_cvtepu16_epi32(
      _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return FloatV(_mm512_castsi512_ps(_mm512_slli_epi32(wide, 16)));
}
// FloatToBFloat16 on 16 lanes: round to nearest even, NaN made quiet.
inline void StoreV(BFloat16* p, FloatV v) {
  const __m512i u = _mm512_castps_si512(__m512(v));
  const __m512i high = _mm512_srli_epi32(u, 16);
  const __m512i odd = _mm512_and_si512(high, _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_srli_epi32(
      _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd)),
      16);
  const __m512i quiet_nan = _mm512_or_si512(high, _mm512_set1_epi32(0x40));
  const __mmask16 is_nan = _mm512_cmpgt_epu32_mask(
      _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
      _mm512_set1_epi32(0x7f800000));
  const __m512i bits = _mm512_mask_blend_epi32(is_nan, rounded, quiet_nan);
  // Every lane is below 2^16, so keeping the low halves is exact. (The
  // storing form: GCC 12's _mm512_cvtepi32_epi16 warns about its own
  // undefined register.)
  _mm512_mask_cvtepi32_storeu_epi16(p, __mmask16(0xffff), bits);
}

#else

constexpr int64_t kVector = kVector8;
typedef Float8 FloatV;

template <typename T>
inline FloatV LoadV(const T* p) {
  return Load8(p);
}
template <typename T>
inline void StoreV(T* p, FloatV v) {
  Store8(p, v);
}

#endif

// v with every lane s.
inline FloatV SplatV(float s) {
  FloatV v;
  for (int64_t i = 0; i < kVector; ++i) v[i] = s;
  return v;
}

BN_ISA_END

#endif  // TF_BN_COMPAT_KERNELS_BN_VEC_H_
