"""TF1's batch normalization layer and its functional form."""

from tf_bn_compat.layers.normalization import batch_normalization
from tf_bn_compat.layers.normalization import BatchNormalization

BatchNorm = BatchNormalization
batch_norm = batch_normalization

__all__ = ["BatchNormalization", "BatchNorm", "batch_normalization",
           "batch_norm"]
