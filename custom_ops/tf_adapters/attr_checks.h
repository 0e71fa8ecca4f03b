// The attribute checks shared by the shape functions (graph build time) and
// the kernels (kernel construction, eager calls). TensorFlow's
// FusedBatchNormV3 takes any epsilon and exponential_avg_factor and returns
// NaN for a negative or non-finite one; these ops refuse them instead, so a
// bad attribute is an error rather than NaN weights.
#ifndef TF_BN_COMPAT_TF_ADAPTERS_ATTR_CHECKS_H_
#define TF_BN_COMPAT_TF_ADAPTERS_ATTR_CHECKS_H_

#include <cmath>

#include "tensorflow/core/platform/errors.h"

namespace tensorflow {
namespace tf_bn_compat {

inline absl::Status CheckEpsilonAttr(float epsilon) {
  if (std::isfinite(epsilon) && epsilon >= 0.0f) return absl::OkStatus();
  return errors::InvalidArgument("epsilon must be finite and >= 0, got ",
                                 epsilon);
}

inline absl::Status CheckFactorAttr(float factor) {
  if (std::isfinite(factor)) return absl::OkStatus();
  return errors::InvalidArgument("exponential_avg_factor must be finite, got ",
                                 factor);
}

}  // namespace tf_bn_compat
}  // namespace tensorflow

#endif  // TF_BN_COMPAT_TF_ADAPTERS_ATTR_CHECKS_H_
