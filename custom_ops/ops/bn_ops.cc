// Op registrations and shape functions for the compat fused batch norm.
// Kernels live in custom_ops/tf_adapters; the math in custom_ops/kernels.
#include <string>

#include "tensorflow/core/framework/common_shape_fns.h"
#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "custom_ops/tf_adapters/attr_checks.h"

namespace tensorflow {
namespace {

using shape_inference::DimensionHandle;
using shape_inference::InferenceContext;
using shape_inference::ShapeHandle;

// The shape functions are those of TensorFlow's FusedBatchNormV3 /
// FusedBatchNormGradV3 (same checks, order and messages): x of the rank its
// data_format names, per-channel inputs 1-D of the channel count, mean and
// variance looked at only where the kernel reads them. Besides, epsilon and
// exponential_avg_factor are checked (attr_checks.h), which TF does not.

// Rank of x and index of its channel dimension for a data_format.
absl::Status FormatGeometry(const std::string& data_format, int* rank,
                            int* channel_dim) {
  if (data_format == "NHWC") { *rank = 4; *channel_dim = 3; }
  else if (data_format == "NCHW") { *rank = 4; *channel_dim = 1; }
  else if (data_format == "NDHWC") { *rank = 5; *channel_dim = 4; }
  else if (data_format == "NCDHW") { *rank = 5; *channel_dim = 1; }
  else {
    return errors::InvalidArgument("Invalid data format string: ",
                                   data_format);
  }
  return absl::OkStatus();
}

// Merges the size of 1-D input `index` into *channels.
absl::Status MergeVector(InferenceContext* c, int index,
                         DimensionHandle* channels) {
  ShapeHandle v;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(index), 1, &v));
  return c->Merge(*channels, c->Dim(v, 0), channels);
}

absl::Status ForwardShape(InferenceContext* c) {
  std::string data_format;
  TF_RETURN_IF_ERROR(c->GetAttr("data_format", &data_format));
  int rank = 0, channel_dim = 0;
  TF_RETURN_IF_ERROR(FormatGeometry(data_format, &rank, &channel_dim));
  ShapeHandle x;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), rank, &x));
  bool is_training;
  float factor;
  TF_RETURN_IF_ERROR(c->GetAttr("is_training", &is_training));
  TF_RETURN_IF_ERROR(c->GetAttr("exponential_avg_factor", &factor));
  float epsilon;
  TF_RETURN_IF_ERROR(c->GetAttr("epsilon", &epsilon));
  TF_RETURN_IF_ERROR(tf_bn_compat::CheckEpsilonAttr(epsilon));
  TF_RETURN_IF_ERROR(tf_bn_compat::CheckFactorAttr(factor));
  // scale, offset, and mean / variance where they are read.
  const int inputs = (is_training && factor == 1.0f) ? 3 : 5;
  DimensionHandle channels = c->Dim(x, channel_dim);
  for (int i = 1; i < inputs; ++i) {
    TF_RETURN_IF_ERROR(MergeVector(c, i, &channels));
  }
  ShapeHandle y;
  TF_RETURN_IF_ERROR(c->ReplaceDim(x, channel_dim, channels, &y));
  c->set_output(0, y);
  const ShapeHandle vec = c->Vector(channels);
  for (int i = 1; i <= 4; ++i) c->set_output(i, vec);
  return absl::OkStatus();
}

absl::Status GradShape(InferenceContext* c) {
  std::string data_format;
  TF_RETURN_IF_ERROR(c->GetAttr("data_format", &data_format));
  int rank = 0, channel_dim = 0;
  TF_RETURN_IF_ERROR(FormatGeometry(data_format, &rank, &channel_dim));
  float epsilon;
  TF_RETURN_IF_ERROR(c->GetAttr("epsilon", &epsilon));
  TF_RETURN_IF_ERROR(tf_bn_compat::CheckEpsilonAttr(epsilon));
  ShapeHandle dy, x;
  TF_RETURN_IF_ERROR(c->WithRank(c->input(0), rank, &dy));
  TF_RETURN_IF_ERROR(c->WithRank(c->input(1), rank, &x));
  // Only the channel counts are merged here; the kernel compares the shapes.
  DimensionHandle channels = c->Dim(dy, channel_dim);
  TF_RETURN_IF_ERROR(c->Merge(channels, c->Dim(x, channel_dim), &channels));
  for (int i = 2; i <= 4; ++i) TF_RETURN_IF_ERROR(MergeVector(c, i, &channels));
  ShapeHandle dx;
  TF_RETURN_IF_ERROR(c->ReplaceDim(dy, channel_dim, channels, &dx));
  c->set_output(0, dx);
  c->set_output(1, c->Vector(channels));
  c->set_output(2, c->Vector(channels));
  return absl::OkStatus();
}

}  // namespace

// Batch normalization with the semantics of FusedBatchNormV3 (inputs,
// attributes and the first three outputs are FusedBatchNormV3's; U lists
// bfloat16 as TF's does, and as in TF no kernel takes it).
//
// Training: y = scale * (x - m) * inv_std + offset with the batch mean m and
// inv_std = 1 / sqrt(v + epsilon), v the biased batch variance. batch_mean and
// batch_variance are m and the unbiased variance v * k / max(k - 1, 1) (k
// elements per channel), or (1 - f) * mean + f * m and (1 - f) * variance +
// f * v_unbiased when f = exponential_avg_factor != 1 (mean / variance are
// not read when f == 1 and may be empty).
// Inference: mean / variance normalize x and are copied to batch_mean /
// batch_variance.
// An empty batch gives NaN batch_mean / batch_variance (training and
// inference), as FusedBatchNormV3.
// saved_mean / saved_inv_std: what the gradient needs (the batch mean and
// inv_std in training; mean and 1 / sqrt(variance + epsilon) in inference).
REGISTER_OP("TfBnCompat>FusedBatchNorm")
    .Input("x: T")
    .Input("scale: U")
    .Input("offset: U")
    .Input("mean: U")
    .Input("variance: U")
    .Output("y: T")
    .Output("batch_mean: U")
    .Output("batch_variance: U")
    .Output("saved_mean: U")
    .Output("saved_inv_std: U")
    .Attr("T: {half, bfloat16, float}")
    .Attr("U: {bfloat16, float}")
    .Attr("epsilon: float = 0.0001")
    .Attr("exponential_avg_factor: float = 1.0")
    .Attr("data_format: {'NHWC', 'NCHW', 'NDHWC', 'NCDHW'} = 'NHWC'")
    .Attr("is_training: bool = true")
    .SetShapeFn(ForwardShape);

// Gradient of TfBnCompat>FusedBatchNorm, as FusedBatchNormGradV3.
//
// saved_mean: the forward's saved_mean (training) or the population mean
// (inference). saved_inv_std_or_variance: the forward's saved_inv_std in
// training (epsilon is unused then); the population variance in inference.
REGISTER_OP("TfBnCompat>FusedBatchNormGrad")
    .Input("y_backprop: T")
    .Input("x: T")
    .Input("scale: U")
    .Input("saved_mean: U")
    .Input("saved_inv_std_or_variance: U")
    .Output("x_backprop: T")
    .Output("scale_backprop: U")
    .Output("offset_backprop: U")
    .Attr("T: {half, bfloat16, float}")
    .Attr("U: {float}")
    .Attr("epsilon: float = 0.0001")
    .Attr("data_format: {'NHWC', 'NCHW', 'NDHWC', 'NCDHW'} = 'NHWC'")
    .Attr("is_training: bool = true")
    .SetShapeFn(GradShape);

}  // namespace tensorflow
