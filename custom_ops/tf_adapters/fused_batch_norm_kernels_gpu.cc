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

// A device scratch buffer of `bytes` (at least one byte).
absl::Status Workspace(OpKernelContext* ctx, int64_t bytes, Tensor* t) {
  if (bytes < 0) return errors::InvalidArgument("tensor too large");
  return ctx->allocate_temp(DT_INT8, TensorShape({bytes > 0 ? bytes : 1}), t);
}

}  // namespace

template <>
int BnLauncher<GPUDevice>::Forward(OpKernelContext* ctx,
                                   const bn_forward_args_t& a) {
  Tensor workspace;
  const absl::Status st = Workspace(
      ctx, bn_cuda_forward_workspace_bytes(a.g.layout, a.g.n, a.g.c, a.g.s),
      &workspace);
  if (!st.ok()) {
    ctx->SetStatus(st);
    return BN_OK;  // The status already carries the failure.
  }
  return bn_cuda_forward(&a, workspace.flat<int8>().data(), Stream(ctx));
}

template <>
int BnLauncher<GPUDevice>::Backward(OpKernelContext* ctx,
                                    const bn_backward_args_t& a) {
  Tensor workspace;
  const absl::Status st = Workspace(
      ctx, bn_cuda_backward_workspace_bytes(a.g.layout, a.g.n, a.g.c, a.g.s),
      &workspace);
  if (!st.ok()) {
    ctx->SetStatus(st);
    return BN_OK;
  }
  return bn_cuda_backward(&a, workspace.flat<int8>().data(), Stream(ctx));
}

namespace {

// TensorFlow's GPU kernels keep inv_std as their second reserve space, as
// ours do.
void RegisterStockGpuKernels(
    std::vector<std::unique_ptr<kernel_factory::OpKernelRegistrar>>* out) {
  const char *fwd = "FusedBatchNormV3", *grad = "FusedBatchNormGradV3";
  RegisterStockKernels<GPUDevice, float, kStockInvStd>(fwd, grad, "",
                                                       DEVICE_GPU, out);
  RegisterStockKernels<GPUDevice, Eigen::half, kStockInvStd>(fwd, grad, "",
                                                             DEVICE_GPU, out);
  RegisterStockKernels<GPUDevice, bfloat16, kStockInvStd>(fwd, grad, "",
                                                          DEVICE_GPU, out);
}

struct OfferStockGpuKernels {
  OfferStockGpuKernels() {
    g_register_stock_gpu_kernels = &RegisterStockGpuKernels;
  }
} offer_stock_gpu_kernels;

}  // namespace

TF_BN_COMPAT_REGISTER_KERNELS(DEVICE_GPU, GPUDevice, float);
TF_BN_COMPAT_REGISTER_KERNELS(DEVICE_GPU, GPUDevice, Eigen::half);
TF_BN_COMPAT_REGISTER_KERNELS(DEVICE_GPU, GPUDevice, bfloat16);

}  // namespace tf_bn_compat
}  // namespace tensorflow

#endif  // GOOGLE_CUDA
