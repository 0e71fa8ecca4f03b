r"""Whole-model CPU benchmark: a TF1 ResNet's training and inference steps.

The ResNet of `tf_bn_compat/examples/resnet_tf1.py` (its `conv2d_fixed` and
`residual_block`, three stages of three blocks: a CIFAR ResNet-20) in
float32 on 32x32x3 images, batch 64, built the TF1 way and run in a
`tf.compat.v1.Session` with TensorFlow's default optimizations (grappler's
remapper included), three ways, each in its own Python:

  * ours: the package's layer (TensorFlow's FusedBatchNormV3 in the graph,
          run by our kernels);
  * tf:   the same graph with TF_BN_COMPAT_BACKEND=tf (our library never
          loaded: TensorFlow's kernels, oneDNN's where it is on);
  * none: the same model without batch normalization (the bound no batch
          norm can beat).

The three processes stay up and are timed in rotation (each round runs
`--steps` steps in each, the order turning every round), so a drift of the
machine hits all columns alike. Prints medians per step in ms and tf/ours.

    python benchmarks/resnet_step_benchmark.py [--rounds=7 --steps=5]
    TF_ENABLE_ONEDNN_OPTS=1 python benchmarks/resnet_step_benchmark.py

NCHW convolutions need oneDNN on the CPU (TensorFlow has no plain CPU kernel
for them): without it the NCHW rows say n/a.
"""

import argparse
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMPLEMENTATIONS = ("ours", "tf", "none")
BATCH = 64
IMAGE = 32


def _cpu_line():
  model, flags = platform.processor(), ""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name") and model in ("", "x86_64"):
          model = line.split(":", 1)[1].strip()
        if line.startswith("flags") and not flags:
          flags = " ".join(sorted({w for w in line.split(":", 1)[1].split()
                                   if w.startswith("avx512")}))
  except OSError:
    pass
  return "%s, %d CPUs, avx512: %s" % (model, os.cpu_count(), flags or "none")


def _child(impl, data_format):
  """Builds the model, then times `run TRAIN|INFER N` requests from stdin."""
  # pylint: disable=g-import-not-at-top
  import numpy as np
  import tensorflow as tf
  import tf_bn_compat
  from tf_bn_compat.examples import resnet_tf1
  tf_bn_compat.patch_tf()
  if impl == "none":
    resnet_tf1.batch_norm = lambda inputs, training, data_format: inputs
  channels_first = data_format == "channels_first"

  def model(images, training):
    h = tf.transpose(images, [0, 3, 1, 2]) if channels_first else images
    h = resnet_tf1.conv2d_fixed(h, 16, 3, 1, data_format)
    h = tf.nn.relu(resnet_tf1.batch_norm(h, training, data_format))
    for stage, filters in enumerate((16, 32, 64)):
      for block in range(3):
        with tf.compat.v1.variable_scope("s%d_b%d" % (stage, block)):
          h = resnet_tf1.residual_block(h, filters, training,
                                        2 if stage and not block else 1,
                                        data_format)
    h = tf.reduce_mean(h, [2, 3] if channels_first else [1, 2])
    return tf.compat.v1.layers.dense(h, 10)

  rng = np.random.RandomState(0)
  images = rng.standard_normal((BATCH, IMAGE, IMAGE, 3)).astype(np.float32)
  labels = rng.randint(0, 10, BATCH)
  with tf.Graph().as_default():
    x = tf.constant(images)
    with tf.compat.v1.variable_scope("m", reuse=tf.compat.v1.AUTO_REUSE):
      train_logits = model(x, True)
      infer_logits = model(x, False)
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels,
                                                            train_logits)
    updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(updates):
      train = tf.compat.v1.train.MomentumOptimizer(0.01, 0.9).minimize(loss)
    fetches = {"TRAIN": train, "INFER": tf.reduce_sum(infer_logits)}
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      try:
        for fetch in fetches.values():
          for _ in range(3):
            sess.run(fetch)
        from tf_bn_compat.ops import _library
        # Calls of our kernels during the warm-up (forward, gradient).
        print("READY", *_library.stock_kernel_runs(), flush=True)
      except tf.errors.OpError as e:
        print("UNAVAILABLE", type(e).__name__, flush=True)
      for line in sys.stdin:
        _, what, steps = line.split()
        start = time.perf_counter()
        for _ in range(int(steps)):
          sess.run(fetches[what])
        print("%.6f" % ((time.perf_counter() - start) / int(steps)),
              flush=True)


def _start(impl, data_format):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  env["PYTHONPATH"] = os.pathsep.join(
      p for p in (ROOT, env.get("PYTHONPATH")) if p)
  if impl == "tf":
    env["TF_BN_COMPAT_BACKEND"] = "tf"
  proc = subprocess.Popen(
      [sys.executable, os.path.abspath(__file__), "--child", impl,
       data_format], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
      env=env)
  status = proc.stdout.readline().split()
  if status[:1] != ["READY"]:
    return None
  proc.kernel_calls = tuple(int(n) for n in status[1:])
  return proc


def _ask(proc, what, steps):
  proc.stdin.write("run %s %d\n" % (what, steps))
  proc.stdin.flush()
  return float(proc.stdout.readline())


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--rounds", type=int, default=7)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--formats", default="channels_last,channels_first")
  parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    return _child(*args.child)
  import numpy as np  # pylint: disable=g-import-not-at-top
  print("CPU: %s; TF_ENABLE_ONEDNN_OPTS=%s; batch %d, %dx%dx3, float32" %
        (_cpu_line(), os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset)"),
         BATCH, IMAGE, IMAGE))
  print("%-6s %-6s %9s %9s %9s %7s" % ("layout", "step", "ours ms", "tf ms",
                                      "none ms", "tf/ours"))
  for data_format in args.formats.split(","):
    layout = "NCHW" if data_format == "channels_first" else "NHWC"
    procs = {impl: _start(impl, data_format) for impl in IMPLEMENTATIONS}
    for what in ("TRAIN", "INFER"):
      if not all(procs.values()):
        print("%-6s %-6s %s" % (layout, what.lower(), "n/a (a convolution "
                                "or batch norm has no kernel here)"))
        continue
      times = {impl: [] for impl in IMPLEMENTATIONS}
      for r in range(args.rounds):
        order = IMPLEMENTATIONS[r % 3:] + IMPLEMENTATIONS[:r % 3]
        for impl in order:
          times[impl].append(_ask(procs[impl], what, args.steps))
      med = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
      print("%-6s %-6s %9.2f %9.2f %9.2f %7.2f" % (
          layout, what.lower(), med["ours"], med["tf"], med["none"],
          med["tf"] / med["ours"]))
    if procs["ours"]:
      print("%-6s (our kernels' calls in ours' warm-up, forward / gradient: "
            "%d / %d; tf's: %d / %d)" % ((layout,) + procs["ours"].kernel_calls
                                       + procs["tf"].kernel_calls))
    for proc in procs.values():
      if proc:
        proc.stdin.close()
        proc.wait()
  return 0


if __name__ == "__main__":
  sys.exit(main())
