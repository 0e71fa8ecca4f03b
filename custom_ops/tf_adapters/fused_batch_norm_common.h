// The OpKernels shared by both devices: validate every input and attribute,
// allocate the outputs, then hand raw pointers to BnLauncher<Device> (one
// specialization per device, in fused_batch_norm_kernels{,_gpu}.cc).
//
// The checks, their order and their messages are those of TensorFlow's
// FusedBatchNormV3 / FusedBatchNormGradV3 kernels: x (and y_backprop) of
// rank 4 or 5 whatever the data_format (its letters only say where the
// channels are), per-channel inputs 1-D with one element per channel, mean
// and variance checked only where they are read (inference, or
// exponential_avg_factor != 1). One check is ours: epsilon and
// exponential_avg_factor (attr_checks.h).
#ifndef TF_BN_COMPAT_TF_ADAPTERS_FUSED_BATCH_NORM_COMMON_H_
#define TF_BN_COMPAT_TF_ADAPTERS_FUSED_BATCH_NORM_COMMON_H_

#include <memory>
#include <string>
#include <vector>

#include "custom_ops/kernels/bn_kernels.h"
#include "custom_ops/tf_adapters/attr_checks.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_shape.h"

namespace tensorflow {
namespace tf_bn_compat {

// Specialized per device; each returns a bn status code. The arguments are
// the kernels' own (bn_kernels.h), which every device takes as they are.
template <typename Device>
struct BnLauncher {
  static int Forward(OpKernelContext* ctx, const bn_forward_args_t& a);
  static int Backward(OpKernelContext* ctx, const bn_backward_args_t& a);
};

template <typename T> struct BnDtype;
template <> struct BnDtype<float> { static constexpr int value = BN_DTYPE_F32; };
template <> struct BnDtype<Eigen::half> { static constexpr int value = BN_DTYPE_F16; };
template <> struct BnDtype<bfloat16> { static constexpr int value = BN_DTYPE_BF16; };

// Common attributes: data_format (-> layout), epsilon, is_training.
class BnAttrs {
 public:
  explicit BnAttrs(OpKernelConstruction* ctx) {
    std::string data_format;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("data_format", &data_format));
    if (data_format == "NHWC" || data_format == "NDHWC") {
      layout_ = BN_LAYOUT_CHANNELS_LAST;
    } else if (data_format == "NCHW" || data_format == "NCDHW") {
      layout_ = BN_LAYOUT_CHANNELS_FIRST;
    } else {
      ctx->CtxFailure(errors::InvalidArgument("Invalid data format"));
      return;
    }
    OP_REQUIRES_OK(ctx, ctx->GetAttr("epsilon", &epsilon_));
    OP_REQUIRES_OK(ctx, CheckEpsilonAttr(epsilon_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("is_training", &is_training_));
  }

  // (n, c, s) of an x already checked to be 4-D or 5-D, of a bn_dtype_t.
  bn_geometry_t GeometryOf(const Tensor& x, int dtype) const {
    bn_geometry_t g{};
    const int rank = x.dims();
    const int channel_dim = layout_ == BN_LAYOUT_CHANNELS_LAST ? rank - 1 : 1;
    g.dtype = dtype;
    g.layout = layout_;
    g.n = x.dim_size(0);
    g.c = x.dim_size(channel_dim);
    // An empty x may have other dimensions whose product overflows int64
    // (TensorShape multiplies them after the zero, this would not): it has
    // no elements per channel, which s = 0 says.
    g.s = 0;
    if (x.NumElements() > 0) {
      g.s = 1;
      for (int d = 1; d < rank; ++d) {
        if (d != channel_dim) g.s *= x.dim_size(d);
      }
    }
    return g;
  }

 protected:
  int layout_ = BN_LAYOUT_CHANNELS_LAST;
  float epsilon_ = 0.0f;
  bool is_training_ = true;
};

// TensorFlow's check of an x or y_backprop rank.
inline absl::Status CheckInputRank(const Tensor& t) {
  if (t.dims() == 4 || t.dims() == 5) return absl::OkStatus();
  return errors::InvalidArgument("input must be 4 or 5-dimensional",
                                 t.shape().DebugString());
}

// TensorFlow's check that a per-channel input is 1-D; `what` as TF names it.
inline absl::Status CheckOneDimensional(const Tensor& t, const char* what) {
  if (t.dims() == 1) return absl::OkStatus();
  return errors::InvalidArgument(what, " must be 1-dimensional",
                                 t.shape().DebugString());
}

// TensorFlow's check that a per-channel input has c elements; `what` names
// it (with TF's prefix for mean / variance).
inline absl::Status CheckChannels(const Tensor& t, const std::string& what,
                                  int64_t c) {
  if (t.NumElements() == c) return absl::OkStatus();
  return errors::InvalidArgument(
      what, " must have the same number of elements as the channels of x, got ",
      t.NumElements(), " and ", c);
}

inline absl::Status BnStatus(int status) {
  if (status == BN_OK) return absl::OkStatus();
  // The environment, not the inputs, is at fault: no CPU kernel can run.
  if (status == BN_ERR_ISA_UNKNOWN || status == BN_ERR_ISA_UNSUPPORTED) {
    return errors::FailedPrecondition("tf_bn_compat: ", bn_cpu_isa_error());
  }
  return errors::Internal("tf_bn_compat kernel failed: ",
                          bn_status_string(status));
}

// Which op a kernel implements, and so what its outputs 3 and 4 (the
// gradient's inputs 3 and 4 in training) hold besides the saved batch mean:
//   kOwnOp:           TfBnCompat>FusedBatchNorm(Grad): inv_std;
//   kStockCpu:        FusedBatchNormV3 / FusedBatchNormGradV3 as TF's CPU
//                     kernels define them: the biased batch variance, and a
//                     scalar third reserve space (the gradient ignores it);
//   kStockOneDnn:     _MklNativeFusedBatchNormV3 / ...GradV3 (the names
//                     oneDNN's graph rewrite gives those ops) as oneDNN's
//                     kernels define them: as kStockCpu, but an empty third
//                     reserve space and scalar unused gradient outputs;
//   kStockInvStd:     FusedBatchNormV3 / ...GradV3 as TF's GPU kernels
//                     define them: inv_std (cuDNN's saved inverse standard
//                     deviation), and an empty third reserve space.
enum BnContract {
  kOwnOp = 0,
  kStockCpu = 1,
  kStockOneDnn = 2,
  kStockInvStd = 3
};

// Whether a contract keeps the biased variance (else inv_std).
constexpr bool KeepsVariance(int contract) {
  return contract == kStockCpu || contract == kStockOneDnn;
}

// Calls of the kernels registered for TensorFlow's own ops (stock_kernels.cc).
void CountStockRun(bool forward);

template <typename Device, typename T, int kContract = kOwnOp>
class FusedBatchNormOp : public OpKernel, public BnAttrs {
 public:
  explicit FusedBatchNormOp(OpKernelConstruction* ctx)
      : OpKernel(ctx), BnAttrs(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("exponential_avg_factor", &factor_));
    OP_REQUIRES_OK(ctx, CheckFactorAttr(factor_));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    OP_REQUIRES_OK(ctx, CheckInputRank(x));
    OP_REQUIRES_OK(ctx, CheckOneDimensional(ctx->input(1), "scale"));
    OP_REQUIRES_OK(ctx, CheckOneDimensional(ctx->input(2), "offset"));
    OP_REQUIRES_OK(ctx, CheckOneDimensional(ctx->input(3), "estimated_mean"));
    OP_REQUIRES_OK(ctx,
                   CheckOneDimensional(ctx->input(4), "estimated_variance"));
    bn_forward_args_t a{};
    a.g = GeometryOf(x, BnDtype<T>::value);
    const int64_t c = a.g.c;
    OP_REQUIRES_OK(ctx, CheckChannels(ctx->input(1), "scale", c));
    OP_REQUIRES_OK(ctx, CheckChannels(ctx->input(2), "offset", c));
    const bool needs_running = !is_training_ || factor_ != 1.0f;
    if (needs_running) {
      const std::string prefix = is_training_
                                     ? "When exponential_avg_factor != 1"
                                     : "When is_training=false";
      OP_REQUIRES_OK(ctx, CheckChannels(ctx->input(3), prefix + ", mean", c));
      OP_REQUIRES_OK(ctx,
                     CheckChannels(ctx->input(4), prefix + ", variance", c));
    }
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0, x.shape(), &y));
    Tensor* out[4];
    for (int i = 0; i < 4; ++i) {
      OP_REQUIRES_OK(ctx, ctx->allocate_output(i + 1, TensorShape({c}), &out[i]));
    }
    a.x = x.data();
    a.y = y->data();
    a.scale = ctx->input(1).flat<float>().data();
    a.offset = ctx->input(2).flat<float>().data();
    a.mean_in = needs_running ? ctx->input(3).flat<float>().data() : nullptr;
    a.var_in = needs_running ? ctx->input(4).flat<float>().data() : nullptr;
    a.epsilon = epsilon_;
    a.exponential_avg_factor = factor_;
    a.is_training = is_training_;
    a.batch_mean = out[0]->flat<float>().data();
    a.batch_var = out[1]->flat<float>().data();
    a.saved_mean = out[2]->flat<float>().data();
    if (KeepsVariance(kContract)) {
      a.saved_var = out[3]->flat<float>().data();
    } else {
      a.saved_inv_std = out[3]->flat<float>().data();
    }
    if (kContract != kOwnOp) {
      Tensor* reserve = nullptr;
      const bool scalar = kContract == kStockCpu;
      OP_REQUIRES_OK(ctx, ctx->allocate_output(
                              5, scalar ? TensorShape({}) : TensorShape({0}),
                              &reserve));
      if (scalar) reserve->scalar<float>()() = 0.0f;
      CountStockRun(true);
    }
    OP_REQUIRES_OK(ctx, BnStatus(BnLauncher<Device>::Forward(ctx, a)));
  }

 private:
  float factor_ = 1.0f;
};

template <typename Device, typename T, int kContract = kOwnOp>
class FusedBatchNormGradOp : public OpKernel, public BnAttrs {
 public:
  explicit FusedBatchNormGradOp(OpKernelConstruction* ctx)
      : OpKernel(ctx), BnAttrs(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& dy = ctx->input(0);
    const Tensor& x = ctx->input(1);
    OP_REQUIRES_OK(ctx, CheckInputRank(dy));
    OP_REQUIRES_OK(ctx, CheckInputRank(x));
    OP_REQUIRES_OK(ctx, CheckOneDimensional(ctx->input(2), "scale"));
    OP_REQUIRES_OK(ctx, CheckOneDimensional(ctx->input(3), "saved mean"));
    OP_REQUIRES_OK(ctx, CheckOneDimensional(ctx->input(4), "saved variance"));
    OP_REQUIRES(ctx, x.shape() == dy.shape(),
                errors::InvalidArgument(
                    "x and y_backprop must have same shape, but x has shape ",
                    x.shape().DebugString(), " and y_backprop has shape ",
                    dy.shape().DebugString()));
    bn_backward_args_t a{};
    a.g = GeometryOf(x, BnDtype<T>::value);
    const int64_t c = a.g.c;
    // TF names the saved statistics after FusedBatchNormGradV3's inputs.
    OP_REQUIRES_OK(ctx, CheckChannels(ctx->input(2), "scale", c));
    OP_REQUIRES_OK(ctx, CheckChannels(ctx->input(3), "reserve_space_1", c));
    OP_REQUIRES_OK(ctx, CheckChannels(ctx->input(4), "reserve_space_2", c));
    Tensor *dx = nullptr, *dscale = nullptr, *doffset = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0, x.shape(), &dx));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({c}), &dscale));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({c}), &doffset));
    a.dy = dy.data();
    a.x = x.data();
    a.dx = dx->data();
    a.scale = ctx->input(2).flat<float>().data();
    a.mean = ctx->input(3).flat<float>().data();
    a.variance_or_inv_std = ctx->input(4).flat<float>().data();
    Tensor inv_std;
    if (KeepsVariance(kContract) && is_training_) {
      // TF's CPU forward keeps the biased variance, ours wants inv_std.
      OP_REQUIRES_OK(ctx, ctx->allocate_temp(DT_FLOAT, TensorShape({c}),
                                             &inv_std));
      OP_REQUIRES_OK(ctx, BnStatus(bn_cpu_inv_std(
                              a.variance_or_inv_std, c, epsilon_,
                              inv_std.flat<float>().data())));
      a.variance_or_inv_std = inv_std.flat<float>().data();
    }
    if (kContract != kOwnOp) {
      // FusedBatchNormGradV3's reserve_space_4 / reserve_space_5: unused.
      const bool scalar = kContract == kStockOneDnn;
      for (int i = 3; i <= 4; ++i) {
        Tensor* unused = nullptr;
        OP_REQUIRES_OK(ctx, ctx->allocate_output(
                                i, scalar ? TensorShape({}) : TensorShape({0}),
                                &unused));
        if (scalar) unused->scalar<float>()() = 0.0f;
      }
      CountStockRun(false);
    }
    a.epsilon = epsilon_;
    a.is_training = is_training_;
    a.dscale = dscale->flat<float>().data();
    a.doffset = doffset->flat<float>().data();
    OP_REQUIRES_OK(ctx, BnStatus(BnLauncher<Device>::Backward(ctx, a)));
  }
};

#define TF_BN_COMPAT_REGISTER_KERNELS(DEVICE_NAME, DEVICE, T)              \
  REGISTER_KERNEL_BUILDER(Name("TfBnCompat>FusedBatchNorm")                \
                              .Device(DEVICE_NAME)                         \
                              .TypeConstraint<T>("T")                      \
                              .TypeConstraint<float>("U"),                 \
                          ::tensorflow::tf_bn_compat::FusedBatchNormOp<DEVICE, T>); \
  REGISTER_KERNEL_BUILDER(Name("TfBnCompat>FusedBatchNormGrad")            \
                              .Device(DEVICE_NAME)                         \
                              .TypeConstraint<T>("T")                      \
                              .TypeConstraint<float>("U"),                 \
                          ::tensorflow::tf_bn_compat::FusedBatchNormGradOp<DEVICE, T>)

// TF_BN_COMPAT_REGISTER_KERNELS for each input type the op allows.
#define TF_BN_COMPAT_REGISTER_KERNELS_ALL_TYPES(DEVICE_NAME, DEVICE)      \
  TF_BN_COMPAT_REGISTER_KERNELS(DEVICE_NAME, DEVICE, float);             \
  TF_BN_COMPAT_REGISTER_KERNELS(DEVICE_NAME, DEVICE, Eigen::half);       \
  TF_BN_COMPAT_REGISTER_KERNELS(DEVICE_NAME, DEVICE, ::tensorflow::bfloat16)

// Registers kernels for TensorFlow's FusedBatchNormV3 / FusedBatchNormGradV3
// (or the names oneDNN's graph rewrite gives them, with oneDNN's kernel
// label) at priority 1, so that they take precedence over TensorFlow's, for
// input type T (statistics float). Run when the package asks
// (stock_kernels.cc), never when the library loads.
template <typename Device, typename T, int kContract>
void RegisterStockKernelsOfType(
    const char* forward_op, const char* grad_op, const char* label,
    const char* device_type,
    std::vector<std::unique_ptr<kernel_factory::OpKernelRegistrar>>* out) {
  register_kernel::Name forward(forward_op);
  register_kernel::Name grad(grad_op);
  for (register_kernel::Name* b : {&forward, &grad}) {
    b->Device(device_type);
    b->template TypeConstraint<T>("T");
    b->template TypeConstraint<float>("U");
    b->Priority(1);
    if (label[0] != '\0') b->Label(label);
  }
  out->emplace_back(new kernel_factory::OpKernelRegistrar(
      forward.Build(), "TfBnCompatStockFusedBatchNorm",
      [](OpKernelConstruction* ctx) -> OpKernel* {
        return new FusedBatchNormOp<Device, T, kContract>(ctx);
      }));
  out->emplace_back(new kernel_factory::OpKernelRegistrar(
      grad.Build(), "TfBnCompatStockFusedBatchNormGrad",
      [](OpKernelConstruction* ctx) -> OpKernel* {
        return new FusedBatchNormGradOp<Device, T, kContract>(ctx);
      }));
}

// RegisterStockKernelsOfType for each of the input types Ts.
template <typename Device, int kContract, typename... Ts>
void RegisterStockKernels(
    const char* forward_op, const char* grad_op, const char* label,
    const char* device_type,
    std::vector<std::unique_ptr<kernel_factory::OpKernelRegistrar>>* out) {
  (RegisterStockKernelsOfType<Device, Ts, kContract>(forward_op, grad_op,
                                                     label, device_type, out),
   ...);
}

// The GPU registrations of RegisterStockKernels, set by the CUDA adapters
// when they are compiled in (else null).
extern void (*g_register_stock_gpu_kernels)(
    std::vector<std::unique_ptr<kernel_factory::OpKernelRegistrar>>* out);

}  // namespace tf_bn_compat
}  // namespace tensorflow

#endif  // TF_BN_COMPAT_TF_ADAPTERS_FUSED_BATCH_NORM_COMMON_H_
