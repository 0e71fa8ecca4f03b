// <immintrin.h> for the kernel headers; include it only through here.
//
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized on their own
// _mm512_undefined_*() (GCC bug 105593, fixed in GCC 13): silenced for the
// lines of those headers only.
#ifndef TF_BN_COMPAT_KERNELS_BN_INTRINSICS_H_
#define TF_BN_COMPAT_KERNELS_BN_INTRINSICS_H_

#if defined(__SSE2__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif

#endif  // TF_BN_COMPAT_KERNELS_BN_INTRINSICS_H_
