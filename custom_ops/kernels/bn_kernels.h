/* Framework-free batch-normalization kernels behind a small C ABI.
 *
 * Layouts (n = batch, c = channels, s = inner spatial size):
 *   BN_LAYOUT_CHANNELS_LAST  (NHWC, NDHWC): rows = n * s, channels contiguous.
 *   BN_LAYOUT_CHANNELS_FIRST (NCHW, NCDHW): n planes per channel of s contiguous
 *                                           elements, element (i, k, j) at
 *                                           (i * c + k) * s + j.
 * x / y / dy / dx have dtype `dtype` (f32, f16, bf16); every per-channel array
 * (scale, offset, statistics) is float32 of length c; arithmetic is float,
 * reductions add short float sums into double.
 *
 * Each kernel takes its arguments in one struct (bn_*_args_t, below), by
 * pointer. Every function returns BN_OK (0) or a nonzero BN_ERR_* code for a
 * bad argument (a NULL struct is BN_ERR_NULL_POINTER); none aborts.
 *
 * The CPU functions run the code of one instruction-set level (baseline
 * x86-64, AVX2 + FMA + F16C, or AVX-512 F/BW/DQ/VL), chosen once per process
 * at the first call: the best level this CPU and its OS support, or the one
 * the environment variable TF_BN_COMPAT_ISA names (baseline, avx2, avx512;
 * unset, empty or "auto": the best). When TF_BN_COMPAT_ISA names an unknown
 * level or one this CPU lacks, every CPU function returns BN_ERR_ISA_UNKNOWN
 * or BN_ERR_ISA_UNSUPPORTED and bn_cpu_isa_error() says why.
 *
 * CPU functions take an optional parallel-for callback: `parallel_for(ctx,
 * n_blocks, cost_per_block, fn, arg)` must call fn(arg, begin, end) over
 * disjoint ranges covering [0, n_blocks) and return when all are done. NULL
 * runs serially. Work is cut into fixed-size blocks whose partial results are
 * merged in a fixed order, so results are bit-identical for any thread count.
 *
 * CUDA launchers take the stream as `void*` (a cudaStream_t) so this header
 * stays CUDA-free; they are only defined in builds with CUDA.
 */
#ifndef TF_BN_COMPAT_KERNELS_BN_KERNELS_H_
#define TF_BN_COMPAT_KERNELS_BN_KERNELS_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  BN_LAYOUT_CHANNELS_LAST = 0,
  BN_LAYOUT_CHANNELS_FIRST = 1
} bn_layout_t;

typedef enum { BN_DTYPE_F32 = 0, BN_DTYPE_F16 = 1, BN_DTYPE_BF16 = 2 } bn_dtype_t;

enum {
  BN_OK = 0,
  BN_ERR_NULL_POINTER = 1, /* a required pointer is NULL */
  BN_ERR_BAD_SIZE = 2,     /* negative size, c == 0 with data, or overflow */
  BN_ERR_BAD_LAYOUT = 3,
  BN_ERR_BAD_DTYPE = 4,
  BN_ERR_BAD_EPSILON = 5,  /* epsilon NaN, infinite or negative */
  BN_ERR_BAD_FACTOR = 6,   /* exponential_avg_factor not finite */
  BN_ERR_OUT_OF_MEMORY = 7,
  BN_ERR_CUDA = 8,         /* a CUDA launch failed */
  BN_ERR_ISA_UNKNOWN = 9,  /* TF_BN_COMPAT_ISA is not a known level */
  BN_ERR_ISA_UNSUPPORTED = 10  /* TF_BN_COMPAT_ISA names a level the CPU lacks */
};

typedef void (*bn_block_fn)(void* arg, int64_t begin, int64_t end);
typedef void (*bn_parallel_for_fn)(void* ctx, int64_t n_blocks,
                                   int64_t cost_per_block, bn_block_fn fn,
                                   void* arg);

/* A short English description of a status code (static storage). */
const char* bn_status_string(int status);

/* ---- Arguments ---------------------------------------------------------- */

/* x (and y, dy, dx) of dtype `dtype` viewed as (n, c, s) in `layout`. */
typedef struct {
  int dtype;   /* a bn_dtype_t */
  int layout;  /* a bn_layout_t */
  int64_t n, c, s;
} bn_geometry_t;

/* Per-channel batch statistics of x. Outputs (each length c, any may be NULL
 * except mean): mean, biased variance, unbiased variance
 * (= biased * m / max(m - 1, 1), m = n * s) and inv_std = 1 / sqrt(biased +
 * epsilon). With m == 0 all outputs are NaN. */
typedef struct {
  bn_geometry_t g;
  const void* x;
  float epsilon;
  float* mean;
  float* var_biased;
  float* var_unbiased;
  float* inv_std;
} bn_stats_args_t;

/* y = (x - mean) * alpha + offset per channel, alpha = scale * inv_std
 * (bn_affine.h). y may alias x. */
typedef struct {
  bn_geometry_t g;
  const void* x;
  void* y;
  const float* scale;
  const float* offset;
  const float* mean;
  const float* inv_std;
} bn_transform_args_t;

/* The whole FusedBatchNormV3 forward. In training the batch statistics
 * normalize x; batch_mean / batch_var are the batch mean / unbiased variance,
 * or (1 - f) * running + f * batch when f = exponential_avg_factor != 1
 * (mean_in / var_in are the running values and may be NULL when f == 1);
 * saved_mean / saved_inv_std receive the batch mean and 1/sqrt(biased var +
 * epsilon). An empty batch gives NaN statistics whatever f (as TF does).
 * In inference mean_in / var_in normalize x and are copied to batch_mean /
 * batch_var (NaN for an empty batch, as TF does); saved_mean = mean_in,
 * saved_inv_std = 1/sqrt(var_in + eps).
 * saved_var receives what FusedBatchNormV3's CPU kernel keeps in its second
 * reserve space: the biased batch variance in training, var_in in inference.
 * saved_mean / saved_inv_std / saved_var may be NULL; the CUDA forward
 * ignores saved_var. */
typedef struct {
  bn_geometry_t g;
  const void* x;
  void* y;
  const float* scale;
  const float* offset;
  const float* mean_in;
  const float* var_in;
  float epsilon;
  float exponential_avg_factor;
  int is_training;
  float* batch_mean;
  float* batch_var;
  float* saved_mean;
  float* saved_inv_std;
  float* saved_var;
} bn_forward_args_t;

/* Gradient of the forward, as FusedBatchNormGradV3. With xc = x - mean:
 *   doffset = sum(dy), dscale = inv_std * sum(dy * xc),
 *   training:  dx = scale * inv_std * (dy - doffset / m
 *                                        - xc * inv_std * dscale / m),
 *   inference: dx = scale * inv_std * dy.
 * variance_or_inv_std is the forward's saved_inv_std in training (epsilon is
 * then unused) and the population variance in inference (inv_std =
 * 1/sqrt(variance + epsilon)). With m == 0: dscale = doffset = 0.
 * dx may alias dy. */
typedef struct {
  bn_geometry_t g;
  const void* dy;
  const void* x;
  void* dx;
  const float* scale;
  const float* mean;
  const float* variance_or_inv_std;
  float epsilon;
  int is_training;
  float* dscale;
  float* doffset;
} bn_backward_args_t;

/* ---- CPU ---------------------------------------------------------------- */

/* The instruction-set level the CPU functions run: "baseline", "avx2" or
 * "avx512"; NULL when TF_BN_COMPAT_ISA is unknown or names a level this CPU
 * lacks. */
const char* bn_cpu_isa(void);

/* The levels this CPU and OS support, lowest first, comma-separated:
 * "baseline", "baseline,avx2" or "baseline,avx2,avx512". */
const char* bn_cpu_isa_supported(void);

/* BN_OK, BN_ERR_ISA_UNKNOWN or BN_ERR_ISA_UNSUPPORTED: whether a level could
 * be chosen. */
int bn_cpu_isa_status(void);

/* "" when a level was chosen, else one sentence naming the value of
 * TF_BN_COMPAT_ISA and the supported levels (static storage). */
const char* bn_cpu_isa_error(void);

/* The size from which a float32 output is written with streaming stores,
 * chosen once per process: TF_BN_COMPAT_STREAM_MIN_BYTES when it is a
 * positive integer, else twice the last-level cache that Linux's sysfs lists
 * for CPU 0 (at least 8 MiB), or 64 MiB where sysfs lists none. */
int64_t bn_cpu_stream_min_bytes(void);

/* The statistics of bn_stats_args_t. Cancellation-safe: every block sums
 * x - K and (x - K)^2, K being the channel's first finite value, and the
 * blocks' sums are added in block order (bn_cpu_stats.cc). */
int bn_cpu_stats(const bn_stats_args_t* args, bn_parallel_for_fn parallel_for,
                 void* pf_ctx);

/* inv_std[k] = 1 / sqrt(variance[k] + epsilon). */
int bn_cpu_inv_std(const float* variance, int64_t c, float epsilon,
                   float* inv_std);

int bn_cpu_transform(const bn_transform_args_t* args,
                     bn_parallel_for_fn parallel_for, void* pf_ctx);

int bn_cpu_forward(const bn_forward_args_t* args,
                   bn_parallel_for_fn parallel_for, void* pf_ctx);

int bn_cpu_backward(const bn_backward_args_t* args,
                    bn_parallel_for_fn parallel_for, void* pf_ctx);

/* ---- CUDA (pointers are device pointers; stream is a cudaStream_t) ------- */

/* Bytes of device scratch the CUDA forward / backward need. */
int64_t bn_cuda_forward_workspace_bytes(int layout, int64_t n, int64_t c,
                                        int64_t s);
int64_t bn_cuda_backward_workspace_bytes(int layout, int64_t n, int64_t c,
                                         int64_t s);

/* As bn_cpu_forward / bn_cpu_backward; workspace holds at least the bytes
 * above (256-byte aligned). Launches are asynchronous on `stream`. */
int bn_cuda_forward(const bn_forward_args_t* args, void* workspace,
                    void* stream);

int bn_cuda_backward(const bn_backward_args_t* args, void* workspace,
                     void* stream);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* TF_BN_COMPAT_KERNELS_BN_KERNELS_H_ */
