// CPU kernels: the bn_cpu_* functions on TensorFlow's intra-op thread pool.
#include "custom_ops/tf_adapters/fused_batch_norm_common.h"
#include "tensorflow/core/framework/register_types.h"
#include "tensorflow/core/util/work_sharder.h"
#include "tensorflow/core/platform/threadpool.h"

namespace tensorflow {
namespace tf_bn_compat {
namespace {

typedef Eigen::ThreadPoolDevice CPUDevice;

// bn_parallel_for_fn over a thread::ThreadPool.
void PoolParallelFor(void* pool, int64_t n_blocks, int64_t cost_per_block,
                     bn_block_fn fn, void* arg) {
  static_cast<thread::ThreadPool*>(pool)->ParallelFor(
      n_blocks, cost_per_block,
      [fn, arg](int64_t begin, int64_t end) { fn(arg, begin, end); });
}

thread::ThreadPool* Pool(OpKernelContext* ctx) {
  return ctx->device()->tensorflow_cpu_worker_threads()->workers;
}

}  // namespace

template <>
int BnLauncher<CPUDevice>::Forward(OpKernelContext* ctx,
                                   const bn_forward_args_t& a) {
  return bn_cpu_forward(&a, PoolParallelFor, Pool(ctx));
}

template <>
int BnLauncher<CPUDevice>::Backward(OpKernelContext* ctx,
                                    const bn_backward_args_t& a) {
  return bn_cpu_backward(&a, PoolParallelFor, Pool(ctx));
}

TF_BN_COMPAT_REGISTER_KERNELS_ALL_TYPES(DEVICE_CPU, CPUDevice);

}  // namespace tf_bn_compat
}  // namespace tensorflow
