// CUDA kernels and their extern "C" launchers (see bn_kernels.h).
//
// Reductions are deterministic: the grid is a fixed function of the shape,
// every block reduces its elements in a fixed order (per-thread float sums,
// then a shared-memory tree), writes its partial sums to the workspace, and
// one thread per channel merges the partials in block order (for the
// statistics: sums of x - K, K the channel's first finite value as on the
// CPU, merged with Chan's formula in double, bn_merge.h). The per-channel
// terms of the transform and the transform itself are bn_affine.h's, as on
// the CPU.
//
// Channels last ([rows, c]): a block is kWarp channels x kRowsPerBlock rows,
// threads (tx, ty) read channel tx of rows ty, ty + kRowThreads, ...
// (coalesced along channels). Channels first ([n, c, s]): a block is a run of
// kChunk elements of one channel's n * s values, which spans whole or partial
// (n, c) planes, read contiguously.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "bn_affine.h"
#include "bn_kernels.h"
#include "bn_merge.h"
#include "bn_validate.h"

namespace bn {
namespace {

constexpr int kWarp = 32;
constexpr int kRowThreads = 8;
constexpr int64_t kRowsPerBlock = 512;
constexpr int kChunkThreads = 256;
constexpr int64_t kChunk = 16384;
constexpr int kElementwiseThreads = 256;
constexpr int kChannelThreads = 128;
constexpr int64_t kMaxElementwiseBlocks = 65536;
constexpr int64_t kAlign = 256;

// Element access for float, half and bfloat16 (16-bit patterns), in float.
struct F32 {};
struct F16 {};
struct BF16 {};

template <typename D> struct Access;
template <> struct Access<F32> {
  __device__ __forceinline__ static float Load(const void* p, int64_t i) {
    return static_cast<const float*>(p)[i];
  }
  __device__ __forceinline__ static void Store(void* p, int64_t i, float v) {
    static_cast<float*>(p)[i] = v;
  }
};
template <> struct Access<F16> {
  __device__ __forceinline__ static float Load(const void* p, int64_t i) {
    return __half2float(__ushort_as_half(static_cast<const uint16_t*>(p)[i]));
  }
  __device__ __forceinline__ static void Store(void* p, int64_t i, float v) {
    static_cast<uint16_t*>(p)[i] = __half_as_ushort(__float2half_rn(v));
  }
};
template <> struct Access<BF16> {
  __device__ __forceinline__ static float Load(const void* p, int64_t i) {
    return __bfloat162float(
        __ushort_as_bfloat16(static_cast<const uint16_t*>(p)[i]));
  }
  __device__ __forceinline__ static void Store(void* p, int64_t i, float v) {
    static_cast<uint16_t*>(p)[i] = __bfloat16_as_ushort(__float2bfloat16_rn(v));
  }
};

// Shape of the reduction grid for a layout.
struct Grid {
  int layout;
  int64_t n, c, s, m;
  int64_t blocks_per_channel;  // Channels first.
  int64_t row_blocks;          // Channels last.
  int64_t num_partials;

  __host__ __device__ Grid(int layout_, int64_t n_, int64_t c_, int64_t s_)
      : layout(layout_), n(n_), c(c_), s(s_), m(n_ * s_) {
    row_blocks = (m + kRowsPerBlock - 1) / kRowsPerBlock;
    blocks_per_channel = (m + kChunk - 1) / kChunk;
    num_partials = c * (layout == BN_LAYOUT_CHANNELS_LAST ? row_blocks
                                                           : blocks_per_channel);
  }
  // Partial p of channel k, in merge order, and its element count.
  __host__ __device__ int64_t PartialIndex(int64_t k, int64_t j) const {
    return layout == BN_LAYOUT_CHANNELS_LAST ? j * c + k
                                             : k * blocks_per_channel + j;
  }
  __host__ __device__ int64_t PartialsPerChannel() const {
    return layout == BN_LAYOUT_CHANNELS_LAST ? row_blocks : blocks_per_channel;
  }
  __host__ __device__ int64_t PartialCount(int64_t j) const {
    const int64_t per = layout == BN_LAYOUT_CHANNELS_LAST ? kRowsPerBlock : kChunk;
    const int64_t left = m - j * per;
    return left < per ? left : per;
  }
};

// Terms summed by the reductions: (x - K, (x - K)^2) for the statistics,
// (dy, dy * (x - mean)) for the backward.
template <typename D>
struct StatsTerm {
  const void* x;
  const float* shift;
  __device__ __forceinline__ void operator()(int64_t i, int64_t k, float* a,
                                             float* b) const {
    const float d = Access<D>::Load(x, i) - shift[k];
    *a = d;
    *b = d * d;
  }
};

template <typename D>
struct GradTerm {
  const void* dy;
  const void* x;
  const float* mean;
  __device__ __forceinline__ void operator()(int64_t i, int64_t k, float* a,
                                             float* b) const {
    const float g = Access<D>::Load(dy, i);
    *a = g;
    *b = g * (Access<D>::Load(x, i) - mean[k]);
  }
};

template <typename Term>
__global__ void ReduceChannelsLast(Grid g, Term term, float* part_a,
                                   float* part_b) {
  __shared__ float sa[kRowThreads][kWarp];
  __shared__ float sb[kRowThreads][kWarp];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t k = int64_t(blockIdx.y) * kWarp + tx;
  const int64_t rb = blockIdx.x;
  float a = 0.0f, b = 0.0f;
  if (k < g.c) {
    const int64_t r0 = rb * kRowsPerBlock;
    const int64_t r1 = r0 + kRowsPerBlock < g.m ? r0 + kRowsPerBlock : g.m;
    for (int64_t r = r0 + ty; r < r1; r += kRowThreads) {
      float da, db;
      term(r * g.c + k, k, &da, &db);
      a += da;
      b += db;
    }
  }
  sa[ty][tx] = a;
  sb[ty][tx] = b;
  __syncthreads();
  if (ty == 0 && k < g.c) {
    for (int t = 1; t < kRowThreads; ++t) {
      a += sa[t][tx];
      b += sb[t][tx];
    }
    part_a[g.PartialIndex(k, rb)] = a;
    part_b[g.PartialIndex(k, rb)] = b;
  }
}

template <typename Term>
__global__ void ReduceChannelsFirst(Grid g, Term term, float* part_a,
                                    float* part_b) {
  __shared__ float sa[kChunkThreads];
  __shared__ float sb[kChunkThreads];
  const int64_t k = blockIdx.x / g.blocks_per_channel;
  const int64_t j = blockIdx.x % g.blocks_per_channel;
  const int64_t t0 = j * kChunk;
  const int64_t t1 = t0 + kChunk < g.m ? t0 + kChunk : g.m;
  float a = 0.0f, b = 0.0f;
  // Walk the (n, k) plane segments covering per-channel indices [t0, t1).
  int64_t plane = t0 / g.s, off = t0 % g.s;
  for (int64_t t = t0; t < t1;) {
    const int64_t len = (g.s - off) < (t1 - t) ? (g.s - off) : (t1 - t);
    const int64_t base = (plane * g.c + k) * g.s + off;
    for (int64_t q = threadIdx.x; q < len; q += kChunkThreads) {
      float da, db;
      term(base + q, k, &da, &db);
      a += da;
      b += db;
    }
    t += len;
    ++plane;
    off = 0;
  }
  sa[threadIdx.x] = a;
  sb[threadIdx.x] = b;
  __syncthreads();
  for (int half = kChunkThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      sa[threadIdx.x] += sa[threadIdx.x + half];
      sb[threadIdx.x] += sb[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    part_a[g.PartialIndex(k, j)] = sa[0];
    part_b[g.PartialIndex(k, j)] = sb[0];
  }
}

template <typename D>
__global__ void ChannelShift(Grid g, const void* x, float* shift) {
  const int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= g.c) return;
  float v = 0.0f;
  if (g.m > 0) {
    v = Access<D>::Load(x, g.layout == BN_LAYOUT_CHANNELS_LAST ? k : k * g.s);
  }
  shift[k] = isfinite(v) ? v : 0.0f;
}

// Per channel: statistics from the partials, the statistics outputs and the
// transform's mean and alpha.
__global__ void FinalizeTraining(Grid g, const float* part_a,
                                 const float* part_b, const float* shift,
                                 const float* scale, const float* mean_in,
                                 const float* var_in, float epsilon,
                                 float factor, float* batch_mean,
                                 float* batch_var, float* saved_mean,
                                 float* saved_inv_std, float* center,
                                 float* alpha) {
  const int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= g.c) return;
  Moments<double> acc{0.0, 0.0, 0.0};
  for (int64_t j = 0; j < g.PartialsPerChannel(); ++j) {
    const int64_t p = g.PartialIndex(k, j);
    acc = MergeMoments(acc, MomentsFromShiftedSums<double>(
                                double(g.PartialCount(j)), part_a[p], part_b[p]));
  }
  const double nan = __longlong_as_double(0x7ff8000000000000LL);
  const double biased = acc.count > 0 ? acc.m2 / acc.count : nan;
  const float mean = acc.count > 0 ? float(shift[k] + acc.mean) : float(nan);
  const float unbiased = float(biased * BesselFactor(acc.count));
  const float inv_std = InvStd(float(biased), epsilon);
  const bool blend = factor != 1.0f && acc.count > 0;
  batch_mean[k] = blend ? (1.0f - factor) * mean_in[k] + factor * mean : mean;
  batch_var[k] = blend ? (1.0f - factor) * var_in[k] + factor * unbiased
                       : unbiased;
  if (saved_mean) saved_mean[k] = mean;
  if (saved_inv_std) saved_inv_std[k] = inv_std;
  center[k] = mean;
  alpha[k] = Alpha(scale[k], inv_std);
}

// An empty batch (m == 0) reports NaN statistics, as TF's op does. The
// transform's mean is mean_in itself.
__global__ void FinalizeInference(int64_t c, int64_t m, const float* scale,
                                  const float* mean_in, const float* var_in,
                                  float epsilon, float* batch_mean,
                                  float* batch_var, float* saved_mean,
                                  float* saved_inv_std, float* alpha) {
  const int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= c) return;
  const float inv_std = InvStd(var_in[k], epsilon);
  const float nan = __int_as_float(0x7fc00000);
  batch_mean[k] = m > 0 ? mean_in[k] : nan;
  batch_var[k] = m > 0 ? var_in[k] : nan;
  if (saved_mean) saved_mean[k] = mean_in[k];
  if (saved_inv_std) saved_inv_std[k] = inv_std;
  alpha[k] = Alpha(scale[k], inv_std);
}

__device__ __forceinline__ int64_t ChannelOf(const Grid& g, int64_t i) {
  return g.layout == BN_LAYOUT_CHANNELS_LAST ? i % g.c : (i / g.s) % g.c;
}

template <typename D>
__global__ void Transform(Grid g, int64_t total, const void* x, void* y,
                          const float* mean, const float* alpha,
                          const float* offset) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t k = ChannelOf(g, i);
    Access<D>::Store(y, i,
                     Normalize(Access<D>::Load(x, i), mean[k], alpha[k],
                               offset[k]));
  }
}

// Per channel: dscale, doffset and the dx coefficients (see bn_cpu_backward).
__global__ void FinalizeBackward(Grid g, const float* part_a,
                                 const float* part_b, const float* scale,
                                 const float* var_or_inv_std, float epsilon,
                                 bool is_training, float* dscale,
                                 float* doffset, float* inv_std_out,
                                 float* coef_a, float* coef_b, float* coef_d) {
  const int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= g.c) return;
  double sum_dy = 0.0, sum_dyxc = 0.0;
  for (int64_t j = 0; j < g.PartialsPerChannel(); ++j) {
    const int64_t p = g.PartialIndex(k, j);
    sum_dy += part_a[p];
    sum_dyxc += part_b[p];
  }
  const float inv_std = is_training
      ? var_or_inv_std[k]
      : InvStd(var_or_inv_std[k], epsilon);
  doffset[k] = float(sum_dy);
  dscale[k] = float(sum_dyxc * inv_std);
  const double a = double(scale[k]) * inv_std;
  const double inv_m = g.m > 0 ? 1.0 / double(g.m) : 0.0;
  inv_std_out[k] = inv_std;
  coef_a[k] = float(a);
  coef_b[k] = is_training ? float(-a * inv_std * dscale[k] * inv_m) : 0.0f;
  coef_d[k] = is_training ? float(-a * sum_dy * inv_m) : 0.0f;
}

template <typename D>
__global__ void BackwardDx(Grid g, int64_t total, const void* dy, const void* x,
                           const float* mean, const float* ca, const float* cb,
                           const float* cd, void* dx) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t k = ChannelOf(g, i);
    const float xc = Access<D>::Load(x, i) - mean[k];
    Access<D>::Store(dx, i, ca[k] * Access<D>::Load(dy, i) + (cb[k] * xc + cd[k]));
  }
}

// ---- Host side ------------------------------------------------------------

int64_t AlignUp(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

// Carves float arrays out of the workspace in a fixed order.
struct Carver {
  char* base;
  int64_t used = 0;
  float* Take(int64_t count) {
    float* p = base ? reinterpret_cast<float*>(base + used) : nullptr;
    used += AlignUp(count * int64_t(sizeof(float)));
    return p;
  }
};

int64_t WorkspaceBytes(int layout, int64_t n, int64_t c, int64_t s,
                       int per_channel_arrays) {
  int64_t total = 0;
  if (CheckShape(BN_DTYPE_F32, layout, n, c, s, &total) != BN_OK) return -1;
  const Grid g(layout, n, c, s);
  Carver w{nullptr};
  w.Take(g.num_partials);
  w.Take(g.num_partials);
  for (int i = 0; i < per_channel_arrays; ++i) w.Take(c);
  return w.used;
}

constexpr int kForwardChannelArrays = 3;   // shift, center, alpha
constexpr int kBackwardChannelArrays = 4;  // inv_std, coef_a, coef_b, coef_d

int Blocks(int64_t work, int threads, int64_t cap) {
  int64_t b = (work + threads - 1) / threads;
  if (b > cap) b = cap;
  return int(b < 1 ? 1 : b);
}

template <typename Term>
void LaunchReduce(const Grid& g, const Term& term, float* part_a,
                  float* part_b, cudaStream_t stream) {
  if (g.num_partials == 0) return;
  if (g.layout == BN_LAYOUT_CHANNELS_LAST) {
    const dim3 grid(unsigned(g.row_blocks), unsigned((g.c + kWarp - 1) / kWarp));
    ReduceChannelsLast<<<grid, dim3(kWarp, kRowThreads), 0, stream>>>(
        g, term, part_a, part_b);
  } else {
    ReduceChannelsFirst<<<unsigned(g.num_partials), kChunkThreads, 0, stream>>>(
        g, term, part_a, part_b);
  }
}

bool GridFits(const Grid& g) {
  // Grid limits: x < 2^31, y < 65536.
  if (g.layout == BN_LAYOUT_CHANNELS_LAST) {
    return g.row_blocks < (int64_t{1} << 31) && (g.c + kWarp - 1) / kWarp < 65536;
  }
  return g.num_partials < (int64_t{1} << 31);
}

template <typename D>
int Forward(const bn_forward_args_t& a, const Grid& g, int64_t total,
            void* workspace, cudaStream_t stream) {
  Carver w{static_cast<char*>(workspace)};
  float* part_a = w.Take(g.num_partials);
  float* part_b = w.Take(g.num_partials);
  float* shift = w.Take(g.c);
  float* center = w.Take(g.c);
  float* alpha = w.Take(g.c);
  const int cblocks = Blocks(g.c, kChannelThreads, INT32_MAX);
  if (a.is_training) {
    ChannelShift<D><<<cblocks, kChannelThreads, 0, stream>>>(g, a.x, shift);
    LaunchReduce(g, StatsTerm<D>{a.x, shift}, part_a, part_b, stream);
    FinalizeTraining<<<cblocks, kChannelThreads, 0, stream>>>(
        g, part_a, part_b, shift, a.scale, a.mean_in, a.var_in, a.epsilon,
        a.exponential_avg_factor, a.batch_mean, a.batch_var, a.saved_mean,
        a.saved_inv_std, center, alpha);
  } else {
    FinalizeInference<<<cblocks, kChannelThreads, 0, stream>>>(
        g.c, g.m, a.scale, a.mean_in, a.var_in, a.epsilon, a.batch_mean,
        a.batch_var, a.saved_mean, a.saved_inv_std, alpha);
  }
  if (total > 0) {
    Transform<D><<<Blocks(total, kElementwiseThreads, kMaxElementwiseBlocks),
                   kElementwiseThreads, 0, stream>>>(
        g, total, a.x, a.y, a.is_training ? center : a.mean_in, alpha,
        a.offset);
  }
  return cudaGetLastError() == cudaSuccess ? BN_OK : BN_ERR_CUDA;
}

template <typename D>
int Backward(const bn_backward_args_t& a, const Grid& g, int64_t total,
             void* workspace, cudaStream_t stream) {
  Carver w{static_cast<char*>(workspace)};
  float* part_a = w.Take(g.num_partials);
  float* part_b = w.Take(g.num_partials);
  float* inv_std = w.Take(g.c);
  float* ca = w.Take(g.c);
  float* cb = w.Take(g.c);
  float* cd = w.Take(g.c);
  LaunchReduce(g, GradTerm<D>{a.dy, a.x, a.mean}, part_a, part_b, stream);
  FinalizeBackward<<<Blocks(g.c, kChannelThreads, INT32_MAX), kChannelThreads,
                     0, stream>>>(g, part_a, part_b, a.scale,
                                  a.variance_or_inv_std, a.epsilon,
                                  a.is_training != 0, a.dscale, a.doffset,
                                  inv_std, ca, cb, cd);
  if (total > 0) {
    BackwardDx<D><<<Blocks(total, kElementwiseThreads, kMaxElementwiseBlocks),
                    kElementwiseThreads, 0, stream>>>(g, total, a.dy, a.x,
                                                      a.mean, ca, cb, cd,
                                                      a.dx);
  }
  return cudaGetLastError() == cudaSuccess ? BN_OK : BN_ERR_CUDA;
}

template <typename F>
int DispatchCuda(int dtype, F&& f) {
  switch (dtype) {
    case BN_DTYPE_F16: return f(F16{});
    case BN_DTYPE_BF16: return f(BF16{});
    default: return f(F32{});
  }
}

}  // namespace
}  // namespace bn

extern "C" int64_t bn_cuda_forward_workspace_bytes(int layout, int64_t n,
                                                   int64_t c, int64_t s) {
  return bn::WorkspaceBytes(layout, n, c, s, bn::kForwardChannelArrays);
}

extern "C" int64_t bn_cuda_backward_workspace_bytes(int layout, int64_t n,
                                                    int64_t c, int64_t s) {
  return bn::WorkspaceBytes(layout, n, c, s, bn::kBackwardChannelArrays);
}

extern "C" int bn_cuda_forward(const bn_forward_args_t* a, void* workspace,
                               void* stream) {
  if (a == nullptr) return BN_ERR_NULL_POINTER;
  const bn_geometry_t& geo = a->g;
  int64_t total = 0;
  int status = bn::CheckForwardCall(geo.dtype, geo.layout, geo.n, geo.c, geo.s,
                                    a->epsilon, a->exponential_avg_factor,
                                    &total);
  if (status != BN_OK) return status;
  if (geo.c == 0) return BN_OK;
  const bool needs_running =
      !a->is_training || a->exponential_avg_factor != 1.0f;
  if (a->scale == nullptr || a->offset == nullptr || a->batch_mean == nullptr ||
      a->batch_var == nullptr || workspace == nullptr ||
      (needs_running && (a->mean_in == nullptr || a->var_in == nullptr)) ||
      (total > 0 && (a->x == nullptr || a->y == nullptr))) {
    return BN_ERR_NULL_POINTER;
  }
  const bn::Grid g(geo.layout, geo.n, geo.c, geo.s);
  if (!bn::GridFits(g)) return BN_ERR_BAD_SIZE;
  return bn::DispatchCuda(geo.dtype, [&](auto d) {
    return bn::Forward<decltype(d)>(*a, g, total, workspace,
                                    static_cast<cudaStream_t>(stream));
  });
}

extern "C" int bn_cuda_backward(const bn_backward_args_t* a, void* workspace,
                                void* stream) {
  if (a == nullptr) return BN_ERR_NULL_POINTER;
  const bn_geometry_t& geo = a->g;
  int64_t total = 0;
  int status = bn::CheckCall(geo.dtype, geo.layout, geo.n, geo.c, geo.s,
                             a->epsilon, &total);
  if (status != BN_OK) return status;
  if (geo.c == 0) return BN_OK;
  if (a->scale == nullptr || a->mean == nullptr ||
      a->variance_or_inv_std == nullptr || a->dscale == nullptr ||
      a->doffset == nullptr || workspace == nullptr ||
      (total > 0 &&
       (a->dy == nullptr || a->x == nullptr || a->dx == nullptr))) {
    return BN_ERR_NULL_POINTER;
  }
  const bn::Grid g(geo.layout, geo.n, geo.c, geo.s);
  if (!bn::GridFits(g)) return BN_ERR_BAD_SIZE;
  return bn::DispatchCuda(geo.dtype, [&](auto d) {
    return bn::Backward<decltype(d)>(*a, g, total, workspace,
                                     static_cast<cudaStream_t>(stream));
  });
}
