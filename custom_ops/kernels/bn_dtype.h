// Host-side element types: float32, IEEE half and bfloat16 stored as uint16,
// converted to and from float (round to nearest even) for float arithmetic.
#ifndef TF_BN_COMPAT_KERNELS_BN_DTYPE_H_
#define TF_BN_COMPAT_KERNELS_BN_DTYPE_H_

#include <stdint.h>
#include <string.h>

#if defined(__F16C__) || defined(__AVX2__)
#include <immintrin.h>
#endif

namespace bn {

struct Half { uint16_t bits; };
struct BFloat16 { uint16_t bits; };

inline uint32_t FloatBits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
inline float BitsFloat(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// Portable IEEE binary16 <-> binary32 conversions (used without F16C).
inline float HalfToFloatSoft(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  if (exp == 0x1fu) return BitsFloat(sign | 0x7f800000u | (man << 13));
  if (exp != 0) return BitsFloat(sign | ((exp + 112u) << 23) | (man << 13));
  // Zero or subnormal: man * 2^-24, exact in float.
  const float mag = float(man) * 5.9604644775390625e-08f;
  return BitsFloat(sign | FloatBits(mag));
}

inline uint16_t FloatToHalfSoft(float f) {
  const uint32_t u = FloatBits(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // Inf or NaN (NaN stays quiet NaN).
    return uint16_t(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  }
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // Rounds to Inf.
  if (abs < 0x38800000u) {  // Below the smallest normal half: subnormal/zero.
    // Adding 0.5 (2^-1) aligns the half subnormal ulp (2^-24) with the
    // float ulp at 0.5, so the FPU's round-to-nearest-even does the rounding.
    const float r = BitsFloat(abs) + 0.5f;
    return uint16_t(sign | (FloatBits(r) - 0x3f000000u));
  }
  // Normal: rebias the exponent, round the 13 dropped bits to nearest even.
  const uint32_t odd = (abs >> 13) & 1u;
  const uint32_t rounded = abs + 0xfffu + odd - (112u << 23);
  return uint16_t(sign | (rounded >> 13));
}

inline float BFloat16ToFloat(uint16_t b) { return BitsFloat(uint32_t(b) << 16); }

inline uint16_t FloatToBFloat16(float f) {
  const uint32_t u = FloatBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);
  const uint32_t odd = (u >> 16) & 1u;
  return uint16_t((u + 0x7fffu + odd) >> 16);
}

inline float HalfToFloat(uint16_t h) {
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return HalfToFloatSoft(h);
#endif
}

inline uint16_t FloatToHalf(float f) {
#if defined(__F16C__)
  return uint16_t(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
#else
  return FloatToHalfSoft(f);
#endif
}

inline float ToFloat(float v) { return v; }
inline float ToFloat(Half v) { return HalfToFloat(v.bits); }
inline float ToFloat(BFloat16 v) { return BFloat16ToFloat(v.bits); }

template <typename T> inline T FromFloat(float v);
template <> inline float FromFloat<float>(float v) { return v; }
template <> inline Half FromFloat<Half>(float v) { return Half{FloatToHalf(v)}; }
template <> inline BFloat16 FromFloat<BFloat16>(float v) {
  return BFloat16{FloatToBFloat16(v)};
}

// ---- 8 elements at a time in float registers -----------------------------
//
// Float8 is an AVX register where the CPU has one (GCC/Clang vector
// extension, portable code elsewhere). Load8 / Store8 convert on the way in
// and out, so the kernels compute on registers with no float copy of a
// half or bfloat16 tensor. Unaligned; Store8 rounds as FromFloat does.
constexpr int64_t kVector = 8;
typedef float Float8 __attribute__((vector_size(kVector * sizeof(float))));

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
  for (int i = 0; i < kVector; ++i) v[i] = ToFloat(p[i]);
  return v;
#endif
}
inline void Store8(Half* p, Float8 v) {
#if defined(__F16C__)
  _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                   _mm256_cvtps_ph(__m256(v), _MM_FROUND_TO_NEAREST_INT));
#else
  for (int i = 0; i < kVector; ++i) p[i] = FromFloat<Half>(v[i]);
#endif
}

inline Float8 Load8(const BFloat16* p) {
#if defined(__AVX2__)
  const __m256i wide = _mm256_cvtepu16_epi32(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return Float8(_mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
#else
  Float8 v;
  for (int i = 0; i < kVector; ++i) v[i] = ToFloat(p[i]);
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
  for (int i = 0; i < kVector; ++i) p[i] = FromFloat<BFloat16>(v[i]);
#endif
}

// Calls f(T{}) with the element type named by a BN_DTYPE_* code.
template <typename F>
inline void DispatchDtype(int dtype, F&& f) {
  switch (dtype) {
    case 1: f(Half{}); break;      // BN_DTYPE_F16
    case 2: f(BFloat16{}); break;  // BN_DTYPE_BF16
    default: f(float{}); break;    // BN_DTYPE_F32 (validated by the caller)
  }
}

}  // namespace bn

#endif  // TF_BN_COMPAT_KERNELS_BN_DTYPE_H_
