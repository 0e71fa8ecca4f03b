"""Batch-normalization ops: `fused_batch_norm` on the package's compiled op."""

from tf_bn_compat.ops.fused import fused_batch_norm

__all__ = ["fused_batch_norm"]
