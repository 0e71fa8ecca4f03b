// GPU kernels: the bn_cuda_* launchers on the op's CUDA stream, with the
// workspace allocated as a temporary tensor. Compiled only with
// -DGOOGLE_CUDA=1 (build.py and Bazel do so when nvcc is found).
#if GOOGLE_CUDA
#ifndef EIGEN_USE_GPU
#define EIGEN_USE_GPU
#endif

#include "custom_ops/tf_adapters/fused_batch_norm_common.h"
#include "unsupported/Eigen/CXX11/Tensor"

namespace tensorflow {
namespace tf_bn_compat {
namespace {

typedef Eigen::GpuDevice GPUDevice;

void* Stream(OpKernelContext* ctx) {
  return static_cast<void*>(ctx->eigen_device<GPUDevice>().stream());
}

// Runs `launch(scratch)` with a device scratch buffer of `bytes` (at least
// one byte) allocated as a temporary tensor; returns what `launch` returns.
template <typename Launch>
int WithWorkspace(OpKernelContext* ctx, int64_t bytes, Launch launch) {
  Tensor workspace;
  const absl::Status st =
      bytes < 0 ? errors::InvalidArgument("tensor too large")
                : ctx->allocate_temp(DT_INT8,
                                     TensorShape({bytes > 0 ? bytes : 1}),
                                     &workspace);
  if (!st.ok()) {
    ctx->SetStatus(st);
    return BN_OK;  // The status already carries the failure.
  }
  return launch(workspace.flat<int8>().data());
}

}  // namespace

template <>
int BnLauncher<GPUDevice>::Forward(OpKernelContext* ctx,
                                   const bn_forward_args_t& a) {
  return WithWorkspace(
      ctx, bn_cuda_forward_workspace_bytes(a.g.layout, a.g.n, a.g.c, a.g.s),
      [&](void* scratch) { return bn_cuda_forward(&a, scratch, Stream(ctx)); });
}

template <>
int BnLauncher<GPUDevice>::Backward(OpKernelContext* ctx,
                                    const bn_backward_args_t& a) {
  return WithWorkspace(
      ctx, bn_cuda_backward_workspace_bytes(a.g.layout, a.g.n, a.g.c, a.g.s),
      [&](void* scratch) {
        return bn_cuda_backward(&a, scratch, Stream(ctx));
      });
}

namespace {

// TensorFlow's GPU kernels keep inv_std as their second reserve space, as
// ours do.
void RegisterStockGpuKernels(
    std::vector<std::unique_ptr<kernel_factory::OpKernelRegistrar>>* out) {
  const char *fwd = "FusedBatchNormV3", *grad = "FusedBatchNormGradV3";
  RegisterStockKernels<GPUDevice, kStockInvStd, float, Eigen::half, bfloat16>(
      fwd, grad, "", DEVICE_GPU, out);
}

struct OfferStockGpuKernels {
  OfferStockGpuKernels() {
    g_register_stock_gpu_kernels = &RegisterStockGpuKernels;
  }
} offer_stock_gpu_kernels;

}  // namespace

TF_BN_COMPAT_REGISTER_KERNELS_ALL_TYPES(DEVICE_GPU, GPUDevice);

}  // namespace tf_bn_compat
}  // namespace tensorflow

#endif  // GOOGLE_CUDA
