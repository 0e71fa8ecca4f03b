// Our kernels for TensorFlow's own FusedBatchNormV3 / FusedBatchNormGradV3,
// registered at priority 1 when the package asks: graphs then hold only
// stock ops (they load and serve anywhere, grappler and XLA know them) while
// a process that uses the package runs our kernels for them.
//
// The registration is a call, not a side effect of loading the library, so
// that loading it for our own op leaves TensorFlow's kernels in place until
// the package decides (TF_BN_COMPAT_BACKEND=tf never asks). Kernels that
// TensorFlow created before the call (a Session's, an eager op's cached
// kernel) stay TensorFlow's.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "custom_ops/tf_adapters/fused_batch_norm_common.h"

namespace tensorflow {
namespace tf_bn_compat {
namespace {

typedef Eigen::ThreadPoolDevice CPUDevice;
typedef std::vector<std::unique_ptr<kernel_factory::OpKernelRegistrar>>
    Registrars;

// oneDNN's graph rewrite renames the ops and selects kernels by this label.
constexpr char kOneDnnLabel[] = "MklNameChangeOp";

std::atomic<int64_t> forward_runs{0};
std::atomic<int64_t> grad_runs{0};

std::mutex mu;
int registered = 0;  // TF_BN_COMPAT_STOCK_* bits done.

Registrars* AllRegistrars() {
  static Registrars* registrars = new Registrars();
  return registrars;
}

}  // namespace

void (*g_register_stock_gpu_kernels)(Registrars* out) = nullptr;

void CountStockRun(bool forward) {
  (forward ? forward_runs : grad_runs).fetch_add(1, std::memory_order_relaxed);
}

}  // namespace tf_bn_compat
}  // namespace tensorflow

extern "C" {

// Bits of tf_bn_compat_register_stock_kernels.
enum {
  TF_BN_COMPAT_STOCK_CPU = 1,     // FusedBatchNormV3 / ...GradV3 on CPU
  TF_BN_COMPAT_STOCK_ONEDNN = 2,  // _MklNativeFusedBatchNormV3 / ...GradV3
  TF_BN_COMPAT_STOCK_GPU = 4      // FusedBatchNormV3 / ...GradV3 on GPU
};

// Registers the kernels the bits of `which` name (each set once per
// process); returns the bits registered so far. The GPU bit is ignored in a
// build without CUDA.
int tf_bn_compat_register_stock_kernels(int which) {
  using namespace ::tensorflow;               // NOLINT
  using namespace ::tensorflow::tf_bn_compat;  // NOLINT
  std::lock_guard<std::mutex> lock(mu);
  Registrars* out = AllRegistrars();
  const int todo = which & ~registered;
  if (todo & TF_BN_COMPAT_STOCK_CPU) {
    const char *fwd = "FusedBatchNormV3", *grad = "FusedBatchNormGradV3";
    RegisterStockKernels<CPUDevice, kStockCpu, float, Eigen::half, bfloat16>(
        fwd, grad, "", DEVICE_CPU, out);
    registered |= TF_BN_COMPAT_STOCK_CPU;
  }
  if (todo & TF_BN_COMPAT_STOCK_ONEDNN) {
    const char *fwd = "_MklNativeFusedBatchNormV3",
               *grad = "_MklNativeFusedBatchNormGradV3";
    RegisterStockKernels<CPUDevice, kStockOneDnn, float, bfloat16>(
        fwd, grad, kOneDnnLabel, DEVICE_CPU, out);
    registered |= TF_BN_COMPAT_STOCK_ONEDNN;
  }
  if ((todo & TF_BN_COMPAT_STOCK_GPU) && g_register_stock_gpu_kernels) {
    g_register_stock_gpu_kernels(out);
    registered |= TF_BN_COMPAT_STOCK_GPU;
  }
  return registered;
}

// How many times our kernels for the stock ops ran in this process: the
// forward ones when `forward` is nonzero, else the gradient ones.
int64_t tf_bn_compat_stock_kernel_runs(int forward) {
  return (forward ? ::tensorflow::tf_bn_compat::forward_runs
                  : ::tensorflow::tf_bn_compat::grad_runs)
      .load(std::memory_order_relaxed);
}

}  // extern "C"
