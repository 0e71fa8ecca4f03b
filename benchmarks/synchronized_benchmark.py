"""Step time of a synchronized batch norm vs a plain one, and its all-reduces.

Runs a TF1 graph (Session) train step on a MirroredStrategy of 2 logical CPU
devices: `y = batch_normalization(x * w)` (w a per-channel weight),
`loss = sum(y**2)`, SGD on w, gamma and beta with the `UPDATE_OPS` idiom. Variants per shape, timed in rotation (one
step of each per round, median of the rounds):

  plain_fused      synchronized=False, default path (the fused kernel)
  plain_composite  synchronized=False, fused=False (the path a synchronized
                   layer takes, without the all-reduce)
  synchronized     synchronized=True

The bytes each layer all-reduces per step are read from the graph (the packed
vectors handed to the strategy): forward 2C + 1 float64 values (count, sums,
sums of squares), backward 2C values of the statistics' dtype.

  python benchmarks/synchronized_benchmark.py [--rounds=30]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

SHAPES = [(32, 14, 14, 64), (8, 28, 28, 128), (64, 256)]
VARIANTS = {
    "plain_fused": dict(synchronized=False),
    "plain_composite": dict(synchronized=False, fused=False),
    "synchronized": dict(synchronized=True),
}


def _step(strategy, shape, options, name):
  import tf_bn_compat  # pylint: disable=g-import-not-at-top
  x_value = np.random.RandomState(0).randn(*shape).astype(np.float32)

  def fn():
    with tf.compat.v1.variable_scope(name):
      # A weight before the layer, so that the backward pass goes through
      # the batch statistics as in a network.
      w = tf.compat.v1.get_variable(
          "w", [shape[-1]], initializer=tf.compat.v1.ones_initializer())
    x = tf.constant(x_value) * w
    y = tf_bn_compat.layers.batch_normalization(x, training=True, name=name,
                                                **options)
    loss = tf.reduce_sum(tf.square(y))
    update_ops = [op for op in tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.UPDATE_OPS) if op.name.startswith(name + "/")]
    with tf.control_dependencies(update_ops):
      return tf.compat.v1.train.GradientDescentOptimizer(1e-3).minimize(
          loss, var_list=[v for v in tf.compat.v1.trainable_variables()
                          if v.name.startswith(name + "/")])

  return tf.group(strategy.experimental_local_results(
      strategy.extended.call_for_each_replica(fn)))


def _all_reduced_bytes(graph):
  """Bytes of the packed vectors the first replica hands to each all-reduce.

  Only the synchronized layer all-reduces through `batch_statistics`.
  """
  sizes = {}
  for op in graph.get_operations():
    for direction in ("forward", "backward"):
      if (op.name.endswith("all_reduce_%s/concat" % direction) and
          not op.name.startswith("replica_1/")):
        out = op.outputs[0]
        sizes[direction] = (int(out.shape.num_elements()) *
                            out.dtype.size, out.dtype.name)
  return sizes


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rounds", type=int, default=30)
  args = parser.parse_args()
  cpus = tf.config.list_physical_devices("CPU")
  tf.config.set_logical_device_configuration(
      cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
  print("TensorFlow %s, TF_ENABLE_ONEDNN_OPTS=%s, 2 replicas on 2 logical "
        "CPUs, median of %d rounds" % (
            tf.__version__, os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset"),
            args.rounds))
  print("| shape per replica | C | plain_fused ms | plain_composite ms | "
        "synchronized ms | sync/composite | all-reduced per layer "
        "(fwd + bwd) |")
  print("|---|---|---|---|---|---|---|")
  for shape in SHAPES:
    with tf.Graph().as_default() as graph:
      strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
      with strategy.scope():
        steps = {variant: _step(strategy, shape, options, variant)
                 for variant, options in VARIANTS.items()}
      sizes = _all_reduced_bytes(graph)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        for step in steps.values():
          for _ in range(3):
            sess.run(step)
        times = {variant: [] for variant in steps}
        for _ in range(args.rounds):
          for variant, step in steps.items():
            start = time.perf_counter()
            sess.run(step)
            times[variant].append(time.perf_counter() - start)
    ms = {v: 1e3 * float(np.median(t)) for v, t in times.items()}
    reduced = " + ".join("%d B %s" % sizes[d] for d in ("forward", "backward"))
    print("| %s | %d | %.3f | %.3f | %.3f | %.2fx | %s |" % (
        "x".join(map(str, shape)), shape[-1], ms["plain_fused"],
        ms["plain_composite"], ms["synchronized"],
        ms["synchronized"] / ms["plain_composite"], reduced))


if __name__ == "__main__":
  main()
