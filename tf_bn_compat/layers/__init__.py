"""TF1's `tf.compat.v1.layers`, rebuilt for TF1 graphs on modern TensorFlow.

`TF_PUBLIC_NAMES` are the names of TF's own `tf.compat.v1.layers` (what
`tf_bn_compat.patch_tf()` installs there); the aliases TF1 defines in its
layer modules (`Convolution2D`, `MaxPool2D`, `BatchNorm`, ...) are exported
too.
"""

from tf_bn_compat.layers import experimental
from tf_bn_compat.layers.base import Layer
from tf_bn_compat.layers.convolutional import Conv1D
from tf_bn_compat.layers.convolutional import conv1d
from tf_bn_compat.layers.convolutional import Conv2D
from tf_bn_compat.layers.convolutional import conv2d
from tf_bn_compat.layers.convolutional import Conv2DTranspose
from tf_bn_compat.layers.convolutional import conv2d_transpose
from tf_bn_compat.layers.convolutional import Conv3D
from tf_bn_compat.layers.convolutional import conv3d
from tf_bn_compat.layers.convolutional import Conv3DTranspose
from tf_bn_compat.layers.convolutional import conv3d_transpose
from tf_bn_compat.layers.convolutional import Convolution1D
from tf_bn_compat.layers.convolutional import convolution1d
from tf_bn_compat.layers.convolutional import Convolution2D
from tf_bn_compat.layers.convolutional import convolution2d
from tf_bn_compat.layers.convolutional import Convolution2DTranspose
from tf_bn_compat.layers.convolutional import convolution2d_transpose
from tf_bn_compat.layers.convolutional import Convolution3D
from tf_bn_compat.layers.convolutional import convolution3d
from tf_bn_compat.layers.convolutional import Convolution3DTranspose
from tf_bn_compat.layers.convolutional import convolution3d_transpose
from tf_bn_compat.layers.convolutional import Deconv2D
from tf_bn_compat.layers.convolutional import deconv2d
from tf_bn_compat.layers.convolutional import Deconv3D
from tf_bn_compat.layers.convolutional import deconv3d
from tf_bn_compat.layers.convolutional import Deconvolution2D
from tf_bn_compat.layers.convolutional import deconvolution2d
from tf_bn_compat.layers.convolutional import Deconvolution3D
from tf_bn_compat.layers.convolutional import deconvolution3d
from tf_bn_compat.layers.convolutional import SeparableConv1D
from tf_bn_compat.layers.convolutional import separable_conv1d
from tf_bn_compat.layers.convolutional import SeparableConv2D
from tf_bn_compat.layers.convolutional import separable_conv2d
from tf_bn_compat.layers.convolutional import SeparableConvolution2D
from tf_bn_compat.layers.convolutional import separable_convolution2d
from tf_bn_compat.layers.core import Dense
from tf_bn_compat.layers.core import dense
from tf_bn_compat.layers.core import Dropout
from tf_bn_compat.layers.core import dropout
from tf_bn_compat.layers.core import Flatten
from tf_bn_compat.layers.core import flatten
from tf_bn_compat.layers.core import FullyConnected
from tf_bn_compat.layers.core import fully_connected
from tf_bn_compat.layers.input_spec import InputSpec
from tf_bn_compat.layers.normalization import batch_norm
from tf_bn_compat.layers.normalization import batch_normalization
from tf_bn_compat.layers.normalization import BatchNorm
from tf_bn_compat.layers.normalization import BatchNormalization
from tf_bn_compat.layers.pooling import avg_pool2d
from tf_bn_compat.layers.pooling import AveragePooling1D
from tf_bn_compat.layers.pooling import average_pooling1d
from tf_bn_compat.layers.pooling import AveragePooling2D
from tf_bn_compat.layers.pooling import average_pooling2d
from tf_bn_compat.layers.pooling import AveragePooling3D
from tf_bn_compat.layers.pooling import average_pooling3d
from tf_bn_compat.layers.pooling import AvgPool2D
from tf_bn_compat.layers.pooling import max_pool2d
from tf_bn_compat.layers.pooling import MaxPool2D
from tf_bn_compat.layers.pooling import MaxPooling1D
from tf_bn_compat.layers.pooling import max_pooling1d
from tf_bn_compat.layers.pooling import MaxPooling2D
from tf_bn_compat.layers.pooling import max_pooling2d
from tf_bn_compat.layers.pooling import MaxPooling3D
from tf_bn_compat.layers.pooling import max_pooling3d

TF_PUBLIC_NAMES = (
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "BatchNormalization", "Conv1D", "Conv2D", "Conv2DTranspose", "Conv3D",
    "Conv3DTranspose", "Dense", "Dropout", "Flatten", "InputSpec", "Layer",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "SeparableConv1D",
    "SeparableConv2D", "average_pooling1d", "average_pooling2d",
    "average_pooling3d", "batch_normalization", "conv1d", "conv2d",
    "conv2d_transpose", "conv3d", "conv3d_transpose", "dense", "dropout",
    "experimental", "flatten", "max_pooling1d", "max_pooling2d",
    "max_pooling3d", "separable_conv1d", "separable_conv2d")

__all__ = sorted(name for name in dir() if not name.startswith("_") and
                 name not in ("TF_PUBLIC_NAMES",))
