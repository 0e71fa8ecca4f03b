"""What this TensorFlow build can run here, found by trying.

TensorFlow's CPU kernels differ by machine: its NCHW convolution gradients
(`Conv2DBackpropFilter`, `Conv2DBackpropInput`) exist only with oneDNN, which
TensorFlow turns on by default only on some CPUs (`TF_ENABLE_ONEDNN_OPTS`
overrides that). Asking the CPU's name would guess; running the op answers.
"""

import functools

import numpy as np
import tensorflow as tf


@functools.lru_cache(maxsize=None)
def nchw_conv_training_supported():
  """Whether a channels-first conv2d and its gradients run on the default device.

  Builds a 1x2x4x4 NCHW convolution in a private graph and runs its forward
  pass and both gradients once; the answer is cached for the process.

  Returns:
    True if they ran, False if TensorFlow has no kernel for them here.
  """
  with tf.Graph().as_default():
    x = tf.constant(np.ones([1, 2, 4, 4], np.float32))
    kernel = tf.constant(np.ones([3, 3, 2, 2], np.float32))
    y = tf.nn.conv2d(x, kernel, 1, "SAME", data_format="NCHW")
    grads = tf.gradients(tf.reduce_sum(y), [x, kernel])
    with tf.compat.v1.Session() as sess:
      try:
        sess.run([y] + grads)
      except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError):
        return False
  return True


def nchw_conv_unsupported_reason():
  """A one-line reason why NCHW convolution training cannot run, or None."""
  if nchw_conv_training_supported():
    return None
  return ("TensorFlow has no channels-first (NCHW) convolution gradient for "
          "this device: its CPU kernels support NHWC only unless oneDNN is on "
          "(TF_ENABLE_ONEDNN_OPTS=1); use NHWC or enable oneDNN")
