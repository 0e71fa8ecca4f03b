// Non-temporal ("streaming") stores for large float32 outputs.
//
// An output that does not fit the caches anyway (bn_stream_policy.cc says
// from which size) is written with streaming stores, which skip the
// read-for-ownership of every output line: a third of the traffic of a pass
// that reads one tensor and writes another. Short
// channels-first runs (e.g. 7x7 planes) are rarely vector aligned and
// measured slower streamed, so they keep ordinary stores. Every x86-64 level
// streams (SSE has streaming stores), a whole FloatV at a time.
#ifndef TF_BN_COMPAT_KERNELS_BN_CPU_STREAM_H_
#define TF_BN_COMPAT_KERNELS_BN_CPU_STREAM_H_

#include <stdint.h>
#include <string.h>

#include "bn_cpu_blocks.h"
#include "bn_intrinsics.h"
#include "bn_isa.h"
#include "bn_kernels.h"
#include "bn_vec.h"

#if defined(__SSE2__)
#define BN_STREAMING_STORES 1
#else
#define BN_STREAMING_STORES 0
#endif

BN_ISA_BEGIN

constexpr int64_t kStreamMinRun = 1024;
// Streaming stores need addresses aligned to the vector they write.
constexpr int64_t kStreamAlignment = sizeof(FloatV);

// Whether a pass writing a float32 output of plan `p` should stream it.
inline bool ShouldStream(const BlockPlan& p, bool is_float32) {
  return BN_STREAMING_STORES && is_float32 &&
         p.m * p.c * int64_t{sizeof(float)} >= bn_cpu_stream_min_bytes() &&
         (p.layout == BN_LAYOUT_CHANNELS_LAST || p.s >= kStreamMinRun);
}

inline bool StreamAligned(const float* p) {
  return (reinterpret_cast<uintptr_t>(p) % kStreamAlignment) == 0;
}

#if BN_STREAMING_STORES
// Writes v to p (kStreamAlignment-aligned) bypassing the caches.
inline void StreamV(float* p, FloatV v) {
#if defined(__AVX512F__)
  _mm512_stream_ps(p, __m512(v));
#elif defined(__AVX__)
  _mm256_stream_ps(p, __m256(v));
#else
  static_assert(sizeof(FloatV) % sizeof(__m128) == 0, "whole SSE registers");
  for (size_t i = 0; i < sizeof(FloatV) / sizeof(__m128); ++i) {
    __m128 part;
    memcpy(&part, reinterpret_cast<const char*>(&v) + i * sizeof(part),
           sizeof(part));
    _mm_stream_ps(p + i * 4, part);
  }
#endif
}
#endif

// Streaming stores are weakly ordered: a block ends with a fence so its
// output is visible once the parallel-for reports the block done.
inline void StreamFence() {
#if BN_STREAMING_STORES
  _mm_sfence();
#endif
}

BN_ISA_END

#endif  // TF_BN_COMPAT_KERNELS_BN_CPU_STREAM_H_
