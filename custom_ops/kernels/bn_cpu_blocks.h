// Fixed-size work blocks for the CPU kernels. A block's extent depends only on
// the shape (never on the thread count) and partial results are merged in
// block order, so every result is bit-identical for any number of threads.
//
// Channels last ([rows = n * s, c]): a block is a run of rows; its partials
// are one value per channel, stored block-major ([block][c]).
// Channels first ([n, c, s]): a block belongs to one channel k and covers
// either a chunk of one (n, k) plane (large s) or several whole planes
// (small s); its partial is one value, stored channel-major
// ([k][block_in_channel]) so each channel merges a contiguous run.
#ifndef TF_BN_COMPAT_KERNELS_BN_CPU_BLOCKS_H_
#define TF_BN_COMPAT_KERNELS_BN_CPU_BLOCKS_H_

#include <stdint.h>

#include <algorithm>

#include "bn_kernels.h"

namespace bn {

// About 32K elements (128 KiB of float) per block: big enough to amortize
// scheduling, small enough to spread a batch over many threads.
constexpr int64_t kBlockElements = int64_t{1} << 15;
// Channels-last blocks span at least this many rows, which bounds the
// partials buffer to 2/kMinRowsPerBlock floats per input element.
constexpr int64_t kMinRowsPerBlock = 64;
// Independent accumulators per channels-first block (vectorizable, fixed
// combination order).
constexpr int kLanes = 16;
// Rough cost of one element in cycles, for the parallel-for's sharding.
constexpr int64_t kCostPerElement = 4;

struct BlockPlan {
  int layout;
  int64_t n, c, s;
  int64_t m;  // Elements per channel: n * s.
  // Channels last.
  int64_t rows_per_block;
  // Channels first.
  int64_t chunks_per_plane;   // > 1 only when one plane spans several blocks.
  int64_t planes_per_block;   // > 1 only when several planes share a block.
  int64_t blocks_per_channel;
  // Both.
  int64_t num_blocks;
  int64_t partials_per_block;  // c (channels last) or 1 (channels first).

  BlockPlan(int layout_, int64_t n_, int64_t c_, int64_t s_)
      : layout(layout_), n(n_), c(c_), s(s_), m(n_ * s_) {
    rows_per_block = chunks_per_plane = planes_per_block = 1;
    blocks_per_channel = 0;
    if (layout == BN_LAYOUT_CHANNELS_LAST) {
      rows_per_block = std::max(kMinRowsPerBlock,
                                (kBlockElements + c - 1) / std::max<int64_t>(c, 1));
      num_blocks = c == 0 ? 0 : (m + rows_per_block - 1) / rows_per_block;
      partials_per_block = c;
    } else {
      if (s >= kBlockElements) {
        chunks_per_plane = (s + kBlockElements - 1) / kBlockElements;
        blocks_per_channel = n * chunks_per_plane;
      } else if (s > 0) {
        planes_per_block = kBlockElements / s;
        blocks_per_channel = (n + planes_per_block - 1) / planes_per_block;
      }
      num_blocks = c * blocks_per_channel;
      partials_per_block = 1;
    }
  }

  int64_t ElementsPerBlock() const {
    return layout == BN_LAYOUT_CHANNELS_LAST
               ? rows_per_block * c
               : std::min(s, kBlockElements) * planes_per_block;
  }

  // Channels last: rows [*begin, *end) of block b.
  void Rows(int64_t b, int64_t* begin, int64_t* end) const {
    *begin = b * rows_per_block;
    *end = std::min(m, *begin + rows_per_block);
  }

  // Channels first: calls f(offset, length) for each contiguous segment of
  // block b (channel b / blocks_per_channel) in memory order.
  template <typename F>
  void ForEachSegment(int64_t b, int64_t* channel, F&& f) const {
    const int64_t k = b / blocks_per_channel;
    const int64_t local = b % blocks_per_channel;
    *channel = k;
    if (chunks_per_plane > 1) {
      const int64_t plane = local / chunks_per_plane;
      const int64_t start = (local % chunks_per_plane) * kBlockElements;
      f((plane * c + k) * s + start, std::min(kBlockElements, s - start));
    } else {
      const int64_t p0 = local * planes_per_block;
      const int64_t p1 = std::min(n, p0 + planes_per_block);
      for (int64_t p = p0; p < p1; ++p) f((p * c + k) * s, s);
    }
  }

  // Number of per-channel elements a block covers.
  int64_t BlockCount(int64_t b) const {
    if (layout == BN_LAYOUT_CHANNELS_LAST) {
      int64_t r0, r1;
      Rows(b, &r0, &r1);
      return r1 - r0;
    }
    int64_t count = 0, k;
    ForEachSegment(b, &k, [&](int64_t, int64_t len) { count += len; });
    return count;
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

// Per block, accumulates the two float sums sum(a), sum(b) of term(i, k, &a,
// &b) over the block's elements (flat index i, channel k) into
// part_a/part_b[b * partials_per_block + (channel-last ? k : 0)].
template <typename Term>
void ReduceBlocks(const BlockPlan& p, const Term& term, float* part_a,
                  float* part_b, bn_parallel_for_fn parallel_for,
                  void* pf_ctx) {
  auto body = [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      if (p.layout == BN_LAYOUT_CHANNELS_LAST) {
        float* __restrict__ sa = part_a + b * p.c;
        float* __restrict__ sb = part_b + b * p.c;
        std::fill(sa, sa + p.c, 0.0f);
        std::fill(sb, sb + p.c, 0.0f);
        int64_t r0, r1;
        p.Rows(b, &r0, &r1);
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t base = r * p.c;
          for (int64_t k = 0; k < p.c; ++k) {
            float a, bb;
            term(base + k, k, &a, &bb);
            sa[k] += a;
            sb[k] += bb;
          }
        }
      } else {
        float acc_a[kLanes] = {}, acc_b[kLanes] = {};
        int64_t k;
        p.ForEachSegment(b, &k, [&](int64_t off, int64_t len) {
          int64_t t = 0;
          for (; t + kLanes <= len; t += kLanes) {
            for (int l = 0; l < kLanes; ++l) {
              float a, bb;
              term(off + t + l, k, &a, &bb);
              acc_a[l] += a;
              acc_b[l] += bb;
            }
          }
          for (int l = 0; t < len; ++t, ++l) {
            float a, bb;
            term(off + t, k, &a, &bb);
            acc_a[l] += a;
            acc_b[l] += bb;
          }
        });
        float sa = 0.0f, sb = 0.0f;
        for (int l = 0; l < kLanes; ++l) {
          sa += acc_a[l];
          sb += acc_b[l];
        }
        part_a[b] = sa;
        part_b[b] = sb;
      }
    }
  };
  RunParallel(parallel_for, pf_ctx, p.num_blocks,
              p.ElementsPerBlock() * kCostPerElement, body);
}

// Calls f(i, k) for every element (flat index i, channel k), block-parallel.
template <typename F>
void MapBlocks(const BlockPlan& p, const F& f, bn_parallel_for_fn parallel_for,
               void* pf_ctx) {
  auto body = [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      if (p.layout == BN_LAYOUT_CHANNELS_LAST) {
        int64_t r0, r1;
        p.Rows(b, &r0, &r1);
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t base = r * p.c;
          for (int64_t k = 0; k < p.c; ++k) f(base + k, k);
        }
      } else {
        int64_t k;
        p.ForEachSegment(b, &k, [&](int64_t off, int64_t len) {
          for (int64_t t = 0; t < len; ++t) f(off + t, k);
        });
      }
    }
  };
  RunParallel(parallel_for, pf_ctx, p.num_blocks,
              p.ElementsPerBlock() * kCostPerElement, body);
}

// Channels merged per task when partials are combined across blocks.
constexpr int64_t kMergeChannels = 64;

// For each channel k calls merge(k, b, a, bb) for every block b in increasing
// order with that block's partials, then done(k). Parallel over channel
// groups only, so each channel's order is fixed.
template <typename Merge, typename Done>
void MergePartials(const BlockPlan& p, const float* part_a,
                   const float* part_b, const Merge& merge, const Done& done,
                   bn_parallel_for_fn parallel_for, void* pf_ctx) {
  const int64_t groups = (p.c + kMergeChannels - 1) / kMergeChannels;
  const int64_t blocks_per_channel =
      p.layout == BN_LAYOUT_CHANNELS_LAST ? p.num_blocks : p.blocks_per_channel;
  auto body = [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const int64_t k0 = g * kMergeChannels;
      const int64_t k1 = std::min(p.c, k0 + kMergeChannels);
      if (p.layout == BN_LAYOUT_CHANNELS_LAST) {
        for (int64_t b = 0; b < p.num_blocks; ++b) {
          for (int64_t k = k0; k < k1; ++k) {
            merge(k, b, part_a[b * p.c + k], part_b[b * p.c + k]);
          }
        }
      } else {
        for (int64_t k = k0; k < k1; ++k) {
          for (int64_t j = 0; j < p.blocks_per_channel; ++j) {
            const int64_t b = k * p.blocks_per_channel + j;
            merge(k, b, part_a[b], part_b[b]);
          }
        }
      }
      for (int64_t k = k0; k < k1; ++k) done(k);
    }
  };
  RunParallel(parallel_for, pf_ctx, groups,
              std::max<int64_t>(1, blocks_per_channel) * kMergeChannels * 20,
              body);
}

}  // namespace bn

#endif  // TF_BN_COMPAT_KERNELS_BN_CPU_BLOCKS_H_
