"""Batch-normalization ops: `fused_batch_norm` (TensorFlow's FusedBatchNormV3,
run by the package's compiled kernels)."""

from tf_bn_compat.ops.fused import fused_batch_norm

__all__ = ["fused_batch_norm"]
