r"""Synchronized batch norm in a TF1 training loop on a MirroredStrategy.

A small convolutional classifier, written the TF1 way, trains in a
`tf.compat.v1.Session` on 2 replicas (2 logical CPU devices, or 2 GPUs with
`--gpus`), each with its own half of every batch. With `synchronized=True` the
batch normalization normalizes with the statistics of the whole batch, so the
run trains exactly as one device on the whole batch would; the example trains
that single-device model too and prints how far the two end up apart.

    python -m tf_bn_compat.examples.synchronized_tf1 --steps=5

The replica function builds the model, takes its gradients (`minimize` there:
the backward pass of a synchronized layer all-reduces too) and runs the
moving-statistics updates through `UPDATE_OPS`, as single-device TF1 code
does. Checkpoints have the single-device model's keys.
"""

import argparse

import numpy as np
import tensorflow as tf

BATCH_PER_REPLICA = 8
NUM_CLASSES = 3


def make_batch(step, num_examples):
  """Images whose mean brightness is the label, and their labels."""
  rng = np.random.RandomState(step)
  labels = rng.randint(0, NUM_CLASSES, num_examples).astype(np.int32)
  images = rng.standard_normal((num_examples, 8, 8, 2)) + labels[:, None,
                                                                 None, None]
  return images.astype(np.float32), labels


def model_loss(images, labels, global_batch_size):
  """The model, as TF1 code writes it; returns its loss on `images`.

  The loss is the sum over these examples divided by the global batch size:
  the replicas' gradients are summed, so their sum is the gradient of the
  global batch's mean loss (`tf.nn.compute_average_loss` does the same).
  """
  import tf_bn_compat  # pylint: disable=g-import-not-at-top
  # Seeded initializers: both runs start from the same weights.
  init = tf.compat.v1.glorot_uniform_initializer
  net = tf_bn_compat.layers.conv2d(images, 4, 3, use_bias=False, name="conv",
                                   kernel_initializer=init(seed=1))
  net = tf_bn_compat.layers.batch_normalization(
      net, training=True, momentum=0.9, synchronized=True, name="bn")
  net = tf.reduce_mean(tf.nn.relu(net), axis=[1, 2])
  logits = tf_bn_compat.layers.dense(net, NUM_CLASSES, name="logits",
                                     kernel_initializer=init(seed=2))
  losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                          logits=logits)
  return tf.reduce_sum(losses) / global_batch_size


def _train_step(images, labels, global_batch_size):
  loss = model_loss(images, labels, global_batch_size)
  update_ops = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
  with tf.control_dependencies(update_ops):
    train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss)
  return loss, train_op


def train(devices, steps):
  """Trains `steps` steps on `devices` (one replica each; None: no strategy).

  Each step's global batch is BATCH_PER_REPLICA * 2 examples; replica r
  takes the r-th slice of it.

  Returns:
    {variable name: value} after training (the first replica's copy).
  """
  replicas = 2
  images = tf.compat.v1.placeholder(tf.float32, [None, 8, 8, 2])
  labels = tf.compat.v1.placeholder(tf.int32, [None])
  if devices is None:
    _, train_op = _train_step(images, labels, BATCH_PER_REPLICA * replicas)
  else:
    strategy = tf.distribute.MirroredStrategy(devices)
    replicas = strategy.num_replicas_in_sync
    with strategy.scope():
      def replica_fn():
        ctx = tf.distribute.get_replica_context()
        start = ctx.replica_id_in_sync_group * BATCH_PER_REPLICA
        part = slice(start, start + BATCH_PER_REPLICA)
        return _train_step(images[part], labels[part],
                           BATCH_PER_REPLICA * replicas)[1]

      train_op = strategy.extended.call_for_each_replica(replica_fn)
      train_op = tf.group(strategy.experimental_local_results(train_op))
  with tf.compat.v1.Session() as sess:
    sess.run(tf.compat.v1.global_variables_initializer())
    for step in range(steps):
      x, y = make_batch(step, BATCH_PER_REPLICA * replicas)
      sess.run(train_op, {images: x, labels: y})
    return {v.name: sess.run(v) for v in tf.compat.v1.global_variables()}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--gpus", action="store_true",
                      help="replicas on /gpu:0 and /gpu:1")
  args = parser.parse_args(argv)
  if args.gpus:
    devices = ["/gpu:0", "/gpu:1"]
  else:
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    devices = ["/cpu:0", "/cpu:1"]
  with tf.Graph().as_default():
    on_replicas = train(devices, args.steps)
  with tf.Graph().as_default():
    on_one = train(None, args.steps)
  assert sorted(on_replicas) == sorted(on_one), "checkpoint keys differ"
  for name in ("bn/moving_mean:0", "bn/moving_variance:0"):
    print("%s: %s" % (name, np.array2string(on_replicas[name], precision=4)))
  difference = max(float(np.max(np.abs(on_replicas[n] - on_one[n])))
                   for n in on_one)
  print("max |2 replicas - 1 device| over all variables: %.3g" % difference)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
