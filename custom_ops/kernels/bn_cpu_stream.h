// Non-temporal ("streaming") stores for large float32 outputs.
//
// An output that does not fit the caches anyway is written with streaming
// stores, which skip the read-for-ownership of every output line: a third of
// the traffic of a pass that reads one tensor and writes another. Short
// channels-first runs (e.g. 7x7 planes) are rarely 32-byte aligned and
// measured slower streamed, so they keep ordinary stores.
#ifndef TF_BN_COMPAT_KERNELS_BN_CPU_STREAM_H_
#define TF_BN_COMPAT_KERNELS_BN_CPU_STREAM_H_

#include <stdint.h>

#include "bn_cpu_blocks.h"
#include "bn_kernels.h"

#if defined(__AVX__) && defined(__FMA__)
#include <immintrin.h>
#define BN_STREAMING_STORES 1
#else
#define BN_STREAMING_STORES 0
#endif

namespace bn {

constexpr int64_t kStreamMinBytes = int64_t{8} << 20;
constexpr int64_t kStreamMinRun = 1024;
constexpr int64_t kStreamAlignment = 32;

// Whether a pass writing a float32 output of plan `p` should stream it.
inline bool ShouldStream(const BlockPlan& p, bool is_float32) {
  return BN_STREAMING_STORES && is_float32 &&
         p.m * p.c * int64_t{sizeof(float)} >= kStreamMinBytes &&
         (p.layout == BN_LAYOUT_CHANNELS_LAST || p.s >= kStreamMinRun);
}

inline bool StreamAligned(const float* p) {
  return (reinterpret_cast<uintptr_t>(p) % kStreamAlignment) == 0;
}

// Streaming stores are weakly ordered: a block ends with a fence so its
// output is visible once the parallel-for reports the block done.
inline void StreamFence() {
#if BN_STREAMING_STORES
  _mm_sfence();
#endif
}

}  // namespace bn

#endif  // TF_BN_COMPAT_KERNELS_BN_CPU_STREAM_H_
