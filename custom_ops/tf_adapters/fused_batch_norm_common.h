// The OpKernels shared by both devices: validate every input and attribute,
// allocate the outputs, then hand raw pointers to BnLauncher<Device> (one
// specialization per device, in fused_batch_norm_kernels{,_gpu}.cc).
#ifndef TF_BN_COMPAT_TF_ADAPTERS_FUSED_BATCH_NORM_COMMON_H_
#define TF_BN_COMPAT_TF_ADAPTERS_FUSED_BATCH_NORM_COMMON_H_

#include <cmath>
#include <string>

#include "custom_ops/kernels/bn_kernels.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_shape.h"

namespace tensorflow {
namespace tf_bn_compat {

// x viewed as (n, c, s) in a bn_layout_t.
struct Geometry {
  int layout = BN_LAYOUT_CHANNELS_LAST;
  int64_t n = 0, c = 0, s = 0;
};

// Everything a device needs for the forward.
struct ForwardArgs {
  Geometry g;
  int dtype;
  const void* x;
  void* y;
  const float *scale, *offset, *mean_in, *var_in;
  float epsilon, factor;
  bool is_training;
  float *batch_mean, *batch_var, *saved_mean, *saved_inv_std;
};

struct BackwardArgs {
  Geometry g;
  int dtype;
  const void *dy, *x;
  void* dx;
  const float *scale, *mean, *variance_or_inv_std;
  float epsilon;
  bool is_training;
  float *dscale, *doffset;
};

// Specialized per device; each returns a bn status code.
template <typename Device>
struct BnLauncher {
  static int Forward(OpKernelContext* ctx, const ForwardArgs& a);
  static int Backward(OpKernelContext* ctx, const BackwardArgs& a);
};

template <typename T> struct BnDtype;
template <> struct BnDtype<float> { static constexpr int value = BN_DTYPE_F32; };
template <> struct BnDtype<Eigen::half> { static constexpr int value = BN_DTYPE_F16; };
template <> struct BnDtype<bfloat16> { static constexpr int value = BN_DTYPE_BF16; };

// Common attributes: data_format (-> layout and rank), epsilon, is_training.
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
      ctx->CtxFailure(errors::InvalidArgument("Unknown data_format '",
                                              data_format, "'."));
      return;
    }
    rank_ = data_format.size() == 4 ? 4 : 5;
    OP_REQUIRES_OK(ctx, ctx->GetAttr("epsilon", &epsilon_));
    OP_REQUIRES(ctx, std::isfinite(epsilon_) && epsilon_ >= 0.0f,
                errors::InvalidArgument("epsilon must be finite and >= 0, got ",
                                        epsilon_));
    OP_REQUIRES_OK(ctx, ctx->GetAttr("is_training", &is_training_));
  }

  // Checks x's rank and derives (n, c, s).
  absl::Status GeometryOf(const Tensor& x, const char* name, Geometry* g) const {
    if (x.dims() != rank_) {
      return errors::InvalidArgument(name, " must be rank ", rank_,
                                     " for this data_format, got shape ",
                                     x.shape().DebugString());
    }
    g->layout = layout_;
    g->n = x.dim_size(0);
    const int channel_dim = layout_ == BN_LAYOUT_CHANNELS_LAST ? rank_ - 1 : 1;
    g->c = x.dim_size(channel_dim);
    g->s = 1;
    for (int d = 1; d < rank_; ++d) {
      if (d != channel_dim) g->s *= x.dim_size(d);
    }
    return absl::OkStatus();
  }

 protected:
  int layout_ = BN_LAYOUT_CHANNELS_LAST;
  int rank_ = 4;
  float epsilon_ = 0.0f;
  bool is_training_ = true;
};

// A 1-D float input of size c (or, when allow_empty, of size 0).
inline absl::Status CheckVector(const Tensor& t, const char* name, int64_t c,
                                bool allow_empty) {
  if (t.dims() != 1 || (t.dim_size(0) != c && !(allow_empty && t.dim_size(0) == 0))) {
    return errors::InvalidArgument(name, " must be 1-D of size ", c,
                                   allow_empty ? " (or empty)" : "",
                                   ", got shape ", t.shape().DebugString());
  }
  return absl::OkStatus();
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

template <typename Device, typename T>
class FusedBatchNormOp : public OpKernel, public BnAttrs {
 public:
  explicit FusedBatchNormOp(OpKernelConstruction* ctx)
      : OpKernel(ctx), BnAttrs(ctx) {
    OP_REQUIRES_OK(ctx, ctx->GetAttr("exponential_avg_factor", &factor_));
    OP_REQUIRES(ctx, std::isfinite(factor_),
                errors::InvalidArgument("exponential_avg_factor must be finite"));
  }

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    ForwardArgs a{};
    OP_REQUIRES_OK(ctx, GeometryOf(x, "x", &a.g));
    const int64_t c = a.g.c;
    const bool needs_running = !is_training_ || factor_ != 1.0f;
    OP_REQUIRES_OK(ctx, CheckVector(ctx->input(1), "scale", c, false));
    OP_REQUIRES_OK(ctx, CheckVector(ctx->input(2), "offset", c, false));
    OP_REQUIRES_OK(ctx, CheckVector(ctx->input(3), "mean", c, !needs_running));
    OP_REQUIRES_OK(ctx, CheckVector(ctx->input(4), "variance", c, !needs_running));
    Tensor* y = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0, x.shape(), &y));
    Tensor* out[4];
    for (int i = 0; i < 4; ++i) {
      OP_REQUIRES_OK(ctx, ctx->allocate_output(i + 1, TensorShape({c}), &out[i]));
    }
    a.dtype = BnDtype<T>::value;
    a.x = x.data();
    a.y = y->data();
    a.scale = ctx->input(1).flat<float>().data();
    a.offset = ctx->input(2).flat<float>().data();
    a.mean_in = needs_running ? ctx->input(3).flat<float>().data() : nullptr;
    a.var_in = needs_running ? ctx->input(4).flat<float>().data() : nullptr;
    a.epsilon = epsilon_;
    a.factor = factor_;
    a.is_training = is_training_;
    a.batch_mean = out[0]->flat<float>().data();
    a.batch_var = out[1]->flat<float>().data();
    a.saved_mean = out[2]->flat<float>().data();
    a.saved_inv_std = out[3]->flat<float>().data();
    OP_REQUIRES_OK(ctx, BnStatus(BnLauncher<Device>::Forward(ctx, a)));
  }

 private:
  float factor_ = 1.0f;
};

template <typename Device, typename T>
class FusedBatchNormGradOp : public OpKernel, public BnAttrs {
 public:
  explicit FusedBatchNormGradOp(OpKernelConstruction* ctx)
      : OpKernel(ctx), BnAttrs(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& dy = ctx->input(0);
    const Tensor& x = ctx->input(1);
    BackwardArgs a{};
    OP_REQUIRES_OK(ctx, GeometryOf(x, "x", &a.g));
    OP_REQUIRES(ctx, dy.shape() == x.shape(),
                errors::InvalidArgument(
                    "y_backprop and x must have the same shape, got ",
                    dy.shape().DebugString(), " and ", x.shape().DebugString()));
    const int64_t c = a.g.c;
    OP_REQUIRES_OK(ctx, CheckVector(ctx->input(2), "scale", c, false));
    OP_REQUIRES_OK(ctx, CheckVector(ctx->input(3), "saved_mean", c, false));
    OP_REQUIRES_OK(ctx, CheckVector(ctx->input(4), "saved_inv_std_or_variance",
                                    c, false));
    Tensor *dx = nullptr, *dscale = nullptr, *doffset = nullptr;
    OP_REQUIRES_OK(ctx, ctx->forward_input_or_allocate_output({0}, 0, x.shape(), &dx));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(1, TensorShape({c}), &dscale));
    OP_REQUIRES_OK(ctx, ctx->allocate_output(2, TensorShape({c}), &doffset));
    a.dtype = BnDtype<T>::value;
    a.dy = dy.data();
    a.x = x.data();
    a.dx = dx->data();
    a.scale = ctx->input(2).flat<float>().data();
    a.mean = ctx->input(3).flat<float>().data();
    a.variance_or_inv_std = ctx->input(4).flat<float>().data();
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

}  // namespace tf_bn_compat
}  // namespace tensorflow

#endif  // TF_BN_COMPAT_TF_ADAPTERS_FUSED_BATCH_NORM_COMMON_H_
