// Fixed-size work blocks for the CPU kernels. A block's extent depends only on
// the shape (never on the thread count) and partial results are merged in
// block order, so every result is bit-identical for any number of threads.
//
// Both layouts are viewed as [planes, c, inner] with inner contiguous:
// channels first is [n, c, s]; channels last is [n * s, c, 1] (a plane is a
// row). A block is a tile of that view: a run of planes, a run of channels
// and a run of inner positions, chosen so that a block is one contiguous
// stretch of memory whenever it can be (a few whole planes, or channels
// [k0, k1) of one plane) and holds about kBlockElements elements.
//
// A reduction leaves one double partial per (channel, block of that
// channel), stored slot-major ([slot][k], a block's slot being its index
// among the blocks of its channels) and merged per channel in slot order.
// Within a block, float accumulators take at most kFlushTerms terms each
// before they are added into the double partial: one float running sum over
// a whole block (hundreds of terms, |sum| up to hundreds of times a term)
// left the statistics off by several float ulps, enough to show in TF's
// finite-difference gradient checks; short float sums keep the speed of
// float arithmetic and the error of a few roundings of small sums.
#ifndef TF_BN_COMPAT_KERNELS_BN_CPU_BLOCKS_H_
#define TF_BN_COMPAT_KERNELS_BN_CPU_BLOCKS_H_

#include <stdint.h>

#include <string.h>

#include <algorithm>
#include <type_traits>

#include "bn_dtype.h"
#include "bn_fma.h"
#include "bn_isa.h"
#include "bn_kernels.h"
#include "bn_vec.h"
#include "bn_vec8.h"

BN_ISA_BEGIN

// About 32K elements (128 KiB of float) per block: big enough to amortize
// scheduling and merging, small enough to spread a batch over many threads.
constexpr int64_t kBlockElements = int64_t{1} << 15;
// A block spans at least this many elements of each of its channels, which
// bounds the partials to 1/kMinPerChannel floats per input element. Channels
// first takes more, fewer channels per block instead, so that short planes
// (7x7) do not pay a channel's setup and final sum every few elements.
constexpr int64_t kMinPerChannel = 64;
constexpr int64_t kMinPerChannelFirst = 256;
// Independent accumulators of a channels-first reduction: four Float8
// vectors, enough to hide the add latency; combined in a fixed order.
constexpr int kLanes = 32;
// Rough cost of one element in cycles, for the parallel-for's sharding.
constexpr int64_t kCostPerElement = 4;
// Terms a float accumulator takes before it is added into double: a block
// of channels-last rows spans at least kMinPerChannel rows, so a block with
// many channels (a wide run per row) flushes once, at its end.
constexpr int kFlushTerms = 64;
// The most channels one block spans: a block holds about kBlockElements
// elements and at least kMinPerChannel of each of its channels (the plan
// below never exceeds this; the per-block float sums live on the stack).
constexpr int64_t kMaxBlockChannels = kBlockElements / kMinPerChannel;

inline int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// One block: planes [p0, p1) x channels [k0, k1) x inner [j0, j1); `slot` is
// its index among the blocks of each of its channels.
struct Block {
  int64_t p0, p1, k0, k1, j0, j1;
  int64_t slot;
};

struct BlockPlan {
  int layout;
  int64_t n, c, s;
  int64_t m;  // Elements per channel: n * s.
  // The [planes, c, inner] view.
  int64_t planes, inner;
  // Tiling of the view.
  int64_t chunk;               // Inner positions per block.
  int64_t chunks_per_plane;
  int64_t channels_per_block;
  int64_t channel_groups;
  int64_t planes_per_block;
  int64_t plane_groups;
  int64_t blocks_per_channel;  // plane_groups * chunks_per_plane.
  int64_t num_blocks;

  BlockPlan(int layout_, int64_t n_, int64_t c_, int64_t s_)
      : layout(layout_), n(n_), c(c_), s(s_), m(n_ * s_) {
    const bool last = layout == BN_LAYOUT_CHANNELS_LAST;
    planes = last ? m : n;
    inner = last ? 1 : s;
    // Planes longer than a block are cut into equal chunks.
    chunks_per_plane = CeilDiv(inner, kBlockElements);
    chunk = std::max<int64_t>(1, CeilDiv(inner, std::max<int64_t>(1, chunks_per_plane)));
    // Enough planes for the minimum per channel, then the channels are split
    // into about equal groups that fill a block.
    const int64_t min_planes =
        CeilDiv(last ? kMinPerChannel : kMinPerChannelFirst, chunk);
    if (c > 0) {
      const int64_t per_group = std::max<int64_t>(1, min_planes * chunk);
      channels_per_block = std::min(
          kMaxBlockChannels,
          CeilDiv(c, CeilDiv(c * per_group, kBlockElements)));
      channel_groups = CeilDiv(c, channels_per_block);
    } else {
      channels_per_block = channel_groups = 0;
    }
    planes_per_block = std::max(
        min_planes,
        kBlockElements / std::max<int64_t>(1, channels_per_block * chunk));
    plane_groups = CeilDiv(planes, planes_per_block);
    blocks_per_channel = plane_groups * chunks_per_plane;
    num_blocks = blocks_per_channel * channel_groups;
  }

  int64_t ElementsPerBlock() const {
    return planes_per_block * channels_per_block * chunk;
  }

  int64_t NumPartials() const { return c * blocks_per_channel; }
  double* Partial(double* part, const Block& blk, int64_t k) const {
    return part + blk.slot * c + k;
  }

  // Blocks are numbered in memory order: plane group, channel group, chunk.
  Block At(int64_t b) const {
    Block blk;
    const int64_t ch = b % chunks_per_plane;
    const int64_t g = (b / chunks_per_plane) % channel_groups;
    const int64_t pg = b / (chunks_per_plane * channel_groups);
    blk.p0 = pg * planes_per_block;
    blk.p1 = std::min(planes, blk.p0 + planes_per_block);
    blk.k0 = g * channels_per_block;
    blk.k1 = std::min(c, blk.k0 + channels_per_block);
    blk.j0 = ch * chunk;
    blk.j1 = std::min(inner, blk.j0 + chunk);
    blk.slot = pg * chunks_per_plane + ch;
    return blk;
  }

  // Offset of (plane p, channel k, inner j) in the tensor.
  int64_t Offset(int64_t p, int64_t k, int64_t j) const {
    return (p * c + k) * inner + j;
  }
};

// Runs f(begin, end) over [0, n) through the callback, or serially.
template <typename F>
void RunParallel(bn_parallel_for_fn parallel_for, void* pf_ctx, int64_t n,
                 int64_t cost_per_unit, F& f) {
  if (n <= 0) return;
  if (parallel_for == nullptr || n == 1) {
    f(int64_t{0}, n);
    return;
  }
  parallel_for(pf_ctx, n, cost_per_unit,
               [](void* arg, int64_t begin, int64_t end) {
                 (*static_cast<F*>(arg))(begin, end);
               },
               &f);
}

// Calls f(block) for every block, in parallel.
template <typename F>
void ForEachBlock(const BlockPlan& p, const F& f,
                  bn_parallel_for_fn parallel_for, void* pf_ctx) {
  auto body = [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) f(p.At(b));
  };
  RunParallel(parallel_for, pf_ctx, p.num_blocks,
              p.ElementsPerBlock() * kCostPerElement, body);
}

// Channels merged per task when partials are combined across blocks.
constexpr int64_t kMergeChannels = 64;

// For each channel k calls merge(k, a, b) for every slot in increasing order
// with the partials of k's block in that slot, then done(k). Parallel over
// channel groups only, so each channel's order is fixed.
template <typename Merge, typename Done>
void MergePartials(const BlockPlan& p, const double* part_a,
                   const double* part_b, const Merge& merge, const Done& done,
                   bn_parallel_for_fn parallel_for, void* pf_ctx) {
  const int64_t groups = CeilDiv(p.c, kMergeChannels);
  auto body = [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t k0 = g * kMergeChannels;
      const int64_t k1 = std::min(p.c, k0 + kMergeChannels);
      for (int64_t j = 0; j < p.blocks_per_channel; ++j) {
        for (int64_t k = k0; k < k1; ++k) {
          merge(k, part_a[j * p.c + k], part_b[j * p.c + k]);
        }
      }
      for (int64_t k = k0; k < k1; ++k) done(k);
    }
  };
  RunParallel(parallel_for, pf_ctx, groups,
              std::max<int64_t>(1, p.blocks_per_channel) * kMergeChannels * 20,
              body);
}

// Calls f(offset, k, length) for each contiguous run of block `blk`: a
// run holds `length` elements starting at channel k (channels last: channels
// k.. of one row) or of channel k (channels first: inner positions of one
// plane). Channels first visits channel by channel.
template <typename F>
void ForEachRun(const BlockPlan& p, const Block& blk, F&& f) {
  if (p.layout == BN_LAYOUT_CHANNELS_LAST) {
    for (int64_t r = blk.p0; r < blk.p1; ++r) {
      f(p.Offset(r, blk.k0, 0), blk.k0, blk.k1 - blk.k0);
    }
  } else {
    for (int64_t k = blk.k0; k < blk.k1; ++k) {
      for (int64_t q = blk.p0; q < blk.p1; ++q) {
        f(p.Offset(q, k, blk.j0), k, blk.j1 - blk.j0);
      }
    }
  }
}

// ---- Tails of fewer than kVector elements ---------------------------------
//
// The elementwise loops below run a half or bfloat16 array through LoadV /
// StoreV, kVector elements at a time, and the rest through the scalar loop
// on float that a float array takes whole (the compiler vectorizes it, which
// measured as fast as LoadV on float). A tail is copied to float for it, so
// every element type gets exactly the float arithmetic. Element by element
// the arithmetic is the same at every vector width (bn_fma.h).
template <typename T>
constexpr bool kIsFloat = std::is_same<T, float>::value;

// rows x len (len < kVector) elements at row stride `stride` to dst, at row
// stride kVector.
template <typename T>
inline void TailToFloat(const T* src, int64_t rows, int64_t len, int64_t stride,
                        float* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < len; ++k) dst[r * kVector + k] = ToFloat(src[r * stride + k]);
  }
}

template <typename T>
inline void TailFromFloat(const float* src, int64_t len, T* dst) {
  for (int64_t k = 0; k < len; ++k) dst[k] = FromFloat<T>(src[k]);
}

// ---- The two-sum reduction shared by the statistics and the backward ------
//
// With u = x1 - c1[k] and w = x2 - c2[k] per element of channel k, a block's
// partials are sum(u) and sum(u * w): the statistics use x1 = x2 = x and
// c1 = c2 = shift (sum(d), sum(d^2)); the backward uses x1 = dy, c1 = 0,
// x2 = x, c2 = mean (sum(dy), sum(dy * (x - mean))).

// With kSquare (x2 is x1, c2 is c1) the second sum is sum(u * u), which
// spares a load and a subtraction per element.

// Channels last: adds kRows rows (row stride `stride`) of a run of channels
// to the per-channel sums, row by row: grouping rows only saves loads and
// stores of the sums, the result is that of one row at a time. Only narrow
// runs are grouped (their sums would otherwise be stored and reloaded every
// few cycles); wide ones go row by row, one sequential stream, which
// measured faster than interleaving rows.
constexpr int kRowGroup = 4;
constexpr int64_t kNarrowRun = 256;

template <int kRows, bool kSquare>
inline void AccumulateRowsTail(const float* x1, const float* __restrict__ c1,
                               const float* x2, const float* __restrict__ c2,
                               int64_t stride, int64_t len,
                               float* __restrict__ sum_a,
                               float* __restrict__ sum_b) {
  for (int64_t k = 0; k < len; ++k) {
    float a = sum_a[k], b = sum_b[k];
    for (int r = 0; r < kRows; ++r) {
      const float u = x1[r * stride + k] - c1[k];
      a += u;
      b = MulAdd(u, kSquare ? u : x2[r * stride + k] - c2[k], b);
    }
    sum_a[k] = a;
    sum_b[k] = b;
  }
}

template <int kRows, bool kSquare, typename T>
inline void AccumulateRows(const T* x1, const float* __restrict__ c1,
                           const T* x2, const float* __restrict__ c2,
                           int64_t stride, int64_t len,
                           float* __restrict__ sum_a,
                           float* __restrict__ sum_b) {
  int64_t k = 0;
  for (; !kIsFloat<T> && k + kVector <= len; k += kVector) {
    FloatV a = LoadV(sum_a + k), b = LoadV(sum_b + k);
    for (int r = 0; r < kRows; ++r) {
      const FloatV u = LoadV(x1 + r * stride + k) - LoadV(c1 + k);
      a += u;
      b = MulAdd(u, kSquare ? u : LoadV(x2 + r * stride + k) - LoadV(c2 + k),
                 b);
    }
    StoreV(sum_a + k, a);
    StoreV(sum_b + k, b);
  }
  if constexpr (kIsFloat<T>) {
    AccumulateRowsTail<kRows, kSquare>(x1 + k, c1 + k, x2 + k, c2 + k, stride,
                                       len - k, sum_a + k, sum_b + k);
  } else if (k < len) {
    float f1[kRows * kVector], f2[kRows * kVector];
    TailToFloat(x1 + k, kRows, len - k, stride, f1);
    if (!kSquare) TailToFloat(x2 + k, kRows, len - k, stride, f2);
    AccumulateRowsTail<kRows, kSquare>(f1, c1 + k, kSquare ? f1 : f2, c2 + k,
                                       kVector, len - k, sum_a + k, sum_b + k);
  }
}

// Channels first: kLanes running float sums of one channel, as kLaneVectors
// vectors, plus one double scalar sum. A run is cut into stretches of at most
// kFlushTerms - 1 lane groups; of a stretch, whole groups of kLanes go lane
// by lane, the remaining whole vectors to vectors 0, 1, ... and the last
// (len % 8) elements to the scalar. Before a lane would exceed
// kFlushTerms terms, the lanes are summed (a tree, in float) into a double.
// Everything is in a fixed order, so results depend only on the run lengths.
// The order is that of Float8 at every level, whatever its widest vector, so
// that the avx2 and avx512 levels give the same sums.
constexpr int kLaneVectors = kLanes / kVector8;
static_assert(kLanes % kVector8 == 0, "whole lane vectors");

struct Lanes {
  Float8 a[kLaneVectors] = {};
  Float8 b[kLaneVectors] = {};
  double flushed_a = 0.0, flushed_b = 0.0;
  double tail_a = 0.0, tail_b = 0.0;
  int terms = 0;  // The most terms a float lane holds.

  template <bool kSquare, typename T>
  void Add(const T* x1, float c1, const T* x2, float c2, int64_t len) {
    // A stretch of kFlushTerms - 1 lane groups and one partial vector group
    // adds at most kFlushTerms terms to a lane.
    constexpr int64_t kStretch = (kFlushTerms - 1) * kLanes;
    for (; len > kStretch; len -= kStretch, x1 += kStretch, x2 += kStretch) {
      AddStretch<kSquare>(x1, c1, x2, c2, kStretch);
    }
    AddStretch<kSquare>(x1, c1, x2, c2, len);
  }

  double SumA() const { return flushed_a + TreeSum(a) + tail_a; }
  double SumB() const { return flushed_b + TreeSum(b) + tail_b; }

 private:
  // len <= kStretch.
  template <bool kSquare, typename T>
  void AddStretch(const T* x1, float c1, const T* x2, float c2, int64_t len) {
    const int stretch_terms = int(len / kLanes) + 1;
    if (terms + stretch_terms > kFlushTerms) Flush();
    terms += stretch_terms;
    int64_t t = 0;
    for (; t + kLanes <= len; t += kLanes) {
      for (int v = 0; v < kLaneVectors; ++v) {
        const Float8 u = Load8(x1 + t + v * kVector8) - c1;
        Term(u, kSquare ? u : Load8(x2 + t + v * kVector8) - c2, v);
      }
    }
    for (int v = 0; t + kVector8 <= len; t += kVector8, ++v) {
      const Float8 u = Load8(x1 + t) - c1;
      Term(u, kSquare ? u : Load8(x2 + t) - c2, v);
    }
    if constexpr (kIsFloat<T>) {
      AddTail<kSquare>(x1 + t, c1, x2 + t, c2, len - t);
    } else if (t < len) {
      float f1[kVector], f2[kVector];
      TailToFloat(x1 + t, 1, len - t, 0, f1);
      if (!kSquare) TailToFloat(x2 + t, 1, len - t, 0, f2);
      AddTail<kSquare>(f1, c1, kSquare ? f1 : f2, c2, len - t);
    }
  }

  template <bool kSquare>
  void AddTail(const float* x1, float c1, const float* x2, float c2,
               int64_t len) {
    for (int64_t t = 0; t < len; ++t) {
      const float u = x1[t] - c1;
      tail_a += u;
      tail_b = MulAdd(u, kSquare ? u : x2[t] - c2, tail_b);
    }
  }

  void Term(Float8 u, Float8 w, int v) {
    a[v] += u;
    b[v] = MulAdd(u, w, b[v]);
  }

  void Flush() {
    flushed_a += TreeSum(a);
    flushed_b += TreeSum(b);
    for (int v = 0; v < kLaneVectors; ++v) a[v] = b[v] = Float8{};
    terms = 0;
  }

  static float TreeSum(const Float8* v) {
    static_assert(kLaneVectors == 4 && kVector8 == 8, "the tree below");
    const Float8 s = (v[0] + v[1]) + (v[2] + v[3]);
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  }
};

// Adds float sums into double ones (stores them when `first`) and clears
// the float ones.
inline void FlushSums(float* __restrict__ from_a, float* __restrict__ from_b,
                      int64_t len, bool first, double* __restrict__ to_a,
                      double* __restrict__ to_b) {
  for (int64_t k = 0; k < len; ++k) {
    to_a[k] = (first ? 0.0 : to_a[k]) + from_a[k];
    to_b[k] = (first ? 0.0 : to_b[k]) + from_b[k];
    from_a[k] = from_b[k] = 0.0f;
  }
}

// Fills part_a / part_b (NumPartials() each) with every block's sums.
template <typename T, bool kSquare>
void ReduceBlocksImpl(const BlockPlan& p, const T* x1, const float* c1,
                  const T* x2, const float* c2, double* part_a, double* part_b,
                  bn_parallel_for_fn parallel_for, void* pf_ctx) {
  static_assert(kFlushTerms % kRowGroup == 0, "flush after whole row groups");
  auto channels_last = [&](const Block& blk) {
    const int64_t kc = blk.k1 - blk.k0;
    double* out_a = p.Partial(part_a, blk, blk.k0);
    double* out_b = p.Partial(part_b, blk, blk.k0);
    alignas(64) float sum_a[kMaxBlockChannels];
    alignas(64) float sum_b[kMaxBlockChannels];
    std::fill(sum_a, sum_a + kc, 0.0f);
    std::fill(sum_b, sum_b + kc, 0.0f);
    const int64_t group = kc * kRowGroup <= kNarrowRun ? kRowGroup : 1;
    int64_t rows_in_sums = 0;
    bool first = true;
    for (int64_t r = blk.p0; r < blk.p1; r += group) {
      const int64_t at = p.Offset(r, blk.k0, 0);
      const float* m1 = c1 + blk.k0;
      const float* m2 = c2 + blk.k0;
      const int64_t rows = std::min(group, blk.p1 - r);
      if (rows == kRowGroup) {
        AccumulateRows<kRowGroup, kSquare>(x1 + at, m1, x2 + at, m2, p.c, kc,
                                           sum_a, sum_b);
      } else {
        for (int64_t i = 0; i < rows; ++i) {
          AccumulateRows<1, kSquare>(x1 + at + i * p.c, m1, x2 + at + i * p.c,
                                     m2, p.c, kc, sum_a, sum_b);
        }
      }
      rows_in_sums += rows;
      if (rows_in_sums >= kFlushTerms && r + rows < blk.p1) {
        FlushSums(sum_a, sum_b, kc, first, out_a, out_b);
        rows_in_sums = 0;
        first = false;
      }
    }
    FlushSums(sum_a, sum_b, kc, first, out_a, out_b);
  };
  auto channels_first = [&](const Block& blk) {
    for (int64_t k = blk.k0; k < blk.k1; ++k) {
      Lanes lanes;
      for (int64_t q = blk.p0; q < blk.p1; ++q) {
        const int64_t at = p.Offset(q, k, blk.j0);
        lanes.template Add<kSquare>(x1 + at, c1[k], x2 + at, c2[k],
                                    blk.j1 - blk.j0);
      }
      *p.Partial(part_a, blk, k) = lanes.SumA();
      *p.Partial(part_b, blk, k) = lanes.SumB();
    }
  };
  if (p.layout == BN_LAYOUT_CHANNELS_LAST) {
    ForEachBlock(p, channels_last, parallel_for, pf_ctx);
  } else {
    ForEachBlock(p, channels_first, parallel_for, pf_ctx);
  }
}

template <typename T>
void ReduceBlocks(const BlockPlan& p, const T* x1, const float* c1,
                  const T* x2, const float* c2, double* part_a, double* part_b,
                  bn_parallel_for_fn parallel_for, void* pf_ctx) {
  if (x2 == x1 && c2 == c1) {
    ReduceBlocksImpl<T, true>(p, x1, c1, x2, c2, part_a, part_b, parallel_for,
                              pf_ctx);
  } else {
    ReduceBlocksImpl<T, false>(p, x1, c1, x2, c2, part_a, part_b,
                               parallel_for, pf_ctx);
  }
}

BN_ISA_END

#endif  // TF_BN_COMPAT_KERNELS_BN_CPU_BLOCKS_H_
