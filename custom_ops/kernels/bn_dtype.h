// Host-side element types: float32, IEEE half and bfloat16 stored as uint16,
// converted to and from float (round to nearest even) for float arithmetic.
#ifndef TF_BN_COMPAT_KERNELS_BN_DTYPE_H_
#define TF_BN_COMPAT_KERNELS_BN_DTYPE_H_

#include <stdint.h>
#include <string.h>

#include "bn_intrinsics.h"
#include "bn_isa.h"

BN_ISA_BEGIN

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

// Calls f(T{}) with the element type named by a BN_DTYPE_* code.
template <typename F>
inline void DispatchDtype(int dtype, F&& f) {
  switch (dtype) {
    case 1: f(Half{}); break;      // BN_DTYPE_F16
    case 2: f(BFloat16{}); break;  // BN_DTYPE_BF16
    default: f(float{}); break;    // BN_DTYPE_F32 (validated by the caller)
  }
}

BN_ISA_END

#endif  // TF_BN_COMPAT_KERNELS_BN_DTYPE_H_
