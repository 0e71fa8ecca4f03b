"""An Estimator `model_fn` with TF1 batch normalization, and its input data.

The model is a small convnet: conv 3x3 -> batch norm -> ReLU -> global
average pool -> dense, classifying which quadrant of an 8x8 image holds a
bright square; with `params["network"] = "resnet"`, the ResNet of
`resnet_tf1.py` (float16 compute, float32 variables) on the same images. Batch normalization is `tf_bn_compat.layers` by default, or
any module with TF1's `batch_normalization` (e.g. `tf.compat.v1.layers` on
TF <= 2.15), chosen by `params["bn_module"]`; the variable names are the
same, so checkpoints of either warm-start the other.

The moving statistics are updated by ops in `UPDATE_OPS`; the train op runs
them through a control dependency (the TF1 idiom):

```python
  update_ops = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
  with tf.control_dependencies(update_ops):
    train_op = optimizer.minimize(loss, global_step=...)
```

`tf.estimator` is TensorFlow's own up to TF 2.15; on TF 2.16+ call
`tf_bn_compat.patch_tf()` first, which installs `tf_bn_compat.estimator`
as `tf.estimator` (the same API, model_dir and SavedModel format):

```python
  import tf_bn_compat
  tf_bn_compat.patch_tf()
  estimator = tf.estimator.Estimator(model_fn, model_dir="/tmp/model")
  estimator.train(input_fn(images, labels, 16, repeat=True), steps=100)
```
"""

import numpy as np
import tensorflow as tf

from tf_bn_compat.examples import resnet_tf1

IMAGE_SIZE = 8
CHANNELS = 3
FILTERS = 4
NUM_CLASSES = 4


def make_data(num_examples, seed):
  """Images with a bright square in one of four quadrants, and the quadrant.

  Args:
    num_examples: Number of images.
    seed: Seed of the generator.

  Returns:
    (images float32 [N, 8, 8, 3], labels int32 [N]); the images have mean
    ~1.5 and standard deviation ~2, so moving statistics must move.
  """
  rng = np.random.RandomState(seed)
  labels = rng.randint(0, NUM_CLASSES, num_examples).astype(np.int32)
  images = rng.standard_normal(
      (num_examples, IMAGE_SIZE, IMAGE_SIZE, CHANNELS)) * 2.0 + 1.5
  half = IMAGE_SIZE // 2
  for i, label in enumerate(labels):
    row, col = divmod(int(label), 2)
    images[i, row * half:(row + 1) * half, col * half:(col + 1) * half] += 3.0
  return images.astype(np.float32), labels


def _default_bn_module():
  from tf_bn_compat import layers  # pylint: disable=g-import-not-at-top
  return layers


def features_fn(images, training, bn_module=None):
  """The network up to the logits.

  Args:
    images: float32 tensor [N, 8, 8, 3].
    training: Python bool.
    bn_module: Module with TF1's `batch_normalization`; defaults to
      `tf_bn_compat.layers`.

  Returns:
    (logits [N, 4], the batch norm input [N, 8, 8, 4], its output).
  """
  bn_module = bn_module or _default_bn_module()
  kernel = tf.compat.v1.get_variable(
      "conv/kernel", [3, 3, CHANNELS, FILTERS],
      initializer=tf.compat.v1.glorot_uniform_initializer(seed=1))
  conv = tf.nn.conv2d(images, kernel, strides=1, padding="SAME")
  normalized = bn_module.batch_normalization(conv, training=training,
                                             name="bn")
  h = tf.reduce_mean(tf.nn.relu(normalized), axis=[1, 2])
  weights = tf.compat.v1.get_variable(
      "dense/kernel", [FILTERS, NUM_CLASSES],
      initializer=tf.compat.v1.glorot_uniform_initializer(seed=2))
  bias = tf.compat.v1.get_variable(
      "dense/bias", [NUM_CLASSES], initializer=tf.compat.v1.zeros_initializer())
  return tf.matmul(h, weights) + bias, conv, normalized


def model_fn(features, labels, mode, params):
  """Estimator `model_fn`: train, evaluate and predict.

  Args:
    features: Dict with "images", float32 [N, 8, 8, 3].
    labels: int32 [N] (None in PREDICT).
    mode: A `tf.estimator.ModeKeys`.
    params: Dict; "learning_rate" (default 0.05), "bn_module" (default
      `tf_bn_compat.layers`), "network": "convnet" (default) or "resnet".

  Returns:
    A `tf.estimator.EstimatorSpec`. Predictions: "classes", "probabilities"
    and, for the convnet, "bn_input" and "bn_output" (the batch norm layer's
    input and output, to check the moving statistics used in inference).

  Raises:
    ValueError: If `params["network"]` is neither.
  """
  training = mode == tf.estimator.ModeKeys.TRAIN
  network = params.get("network", "convnet")
  if network == "convnet":
    logits, bn_input, bn_output = features_fn(features["images"], training,
                                              params.get("bn_module"))
    extra = {"bn_input": bn_input, "bn_output": bn_output}
  elif network == "resnet":
    logits, extra = resnet_tf1.resnet(features["images"], training), {}
  else:
    raise ValueError('params["network"] must be "convnet" or "resnet", got '
                     "%r." % (network,))
  predictions = dict({"classes": tf.argmax(logits, axis=1),
                      "probabilities": tf.nn.softmax(logits)}, **extra)
  if mode == tf.estimator.ModeKeys.PREDICT:
    return tf.estimator.EstimatorSpec(
        mode, predictions=predictions,
        export_outputs={"serving_default": tf.estimator.export.PredictOutput(
            {"classes": predictions["classes"],
             "probabilities": predictions["probabilities"]})})
  loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
  metrics = {"accuracy": tf.compat.v1.metrics.accuracy(
      labels, predictions["classes"])}
  if mode == tf.estimator.ModeKeys.EVAL:
    return tf.estimator.EstimatorSpec(mode, loss=loss,
                                      eval_metric_ops=metrics)
  # The ResNet's float16 gradients are scaled against underflow; for SGD,
  # scaling the loss by S and the learning rate by 1 / S is the same step.
  scale = resnet_tf1.LOSS_SCALE if network == "resnet" else 1.0
  optimizer = tf.compat.v1.train.GradientDescentOptimizer(
      params.get("learning_rate", 0.05) / scale)
  update_ops = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
  with tf.control_dependencies(update_ops):
    train_op = optimizer.minimize(
        loss * scale,
        global_step=tf.compat.v1.train.get_or_create_global_step())
  return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def input_fn(images, labels, batch_size, repeat):
  """A `tf.data` input function over numpy arrays.

  Args:
    images: float32 array [N, 8, 8, 3].
    labels: int32 array [N], or None (predict).
    batch_size: Batch size.
    repeat: Whether to repeat forever (training).

  Returns:
    A callable for `Estimator.train/evaluate/predict`.
  """

  def fn():
    features = {"images": images}
    data = tf.data.Dataset.from_tensor_slices(
        (features, labels) if labels is not None else features)
    if repeat:
      data = data.repeat()
    return data.batch(batch_size)

  return fn


def serving_input_receiver_fn():
  """Serving input: a float32 placeholder of images."""
  images = tf.compat.v1.placeholder(
      tf.float32, [None, IMAGE_SIZE, IMAGE_SIZE, CHANNELS], name="images")
  return tf.estimator.export.ServingInputReceiver({"images": images},
                                                  {"images": images})
