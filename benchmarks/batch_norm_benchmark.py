r"""CPU benchmark: our fused op against TensorFlow's, in TF1 graph mode.

For each shape and layout it times, in one process and one session
configuration (TF's defaults, oneDNN on, `--threads` intra-op threads):

  * ours:      `tf_bn_compat.ops.fused_batch_norm` on the compiled op;
  * tf_fused:  `tf.compat.v1.nn.fused_batch_norm` (FusedBatchNormV3);
  * composite: `tf.nn.moments` + `tf.nn.batch_normalization` (TF1's non-fused
               path);

for a training forward pass, an inference forward pass and forward+backward,
and prints medians, the ratio tf_fused / ours, and our time as a fraction of
the memory-traffic limit. The limit is measured with them: a read of the
tensor (`reduce_sum`) and a copy (`x + c`), both on the same threads, times
the passes each case needs:

  training forward:  read x (statistics) + copy (read x, write y)
  inference forward: copy
  forward+backward:  training forward + 2 reads (x, dy for the reductions)
                     + copy + read (read x and dy, write dx)
  backward alone:    the gradient op by itself (ours vs FusedBatchNormGradV3;
                     no composite equivalent): 3 reads + copy

TensorFlow's kernels run in a worker process of their own that never loads
the op library (TF_BN_COMPAT_BACKEND=tf): once a process has used our op,
our kernels are registered for TensorFlow's FusedBatchNormV3 too (see the
README's "Our kernels, TensorFlow's ops"), so in one process both columns
would time our kernels. The other worker runs ours, the composite and the
traffic probes. Each worker times its own runs (no pipe latency in them).

The implementations of one case and the two traffic probes, each on its own
copy of the input, are timed in rotation (one run of each per round, the
order turning every round). Each run so finds its input evicted from the
caches by the others (a cold input: see BENCHMARKS.md for what that means
against a training step), and a drift of the machine's memory bandwidth
(this shared VM's moves by half within minutes) hits every column alike, so
the ratios stay meaningful where absolute times do not.

`limit/ours` and `limit/tf` put each op against the limit: TF's oneDNN
kernel near 100% leaves a faster kernel only the traffic it can avoid (the
read-for-ownership of the output, which our streaming stores skip).

A last table times a whole TF1 training step of a conv net with 12 batch
norm layers on our layer against the same graph on TF's fused op (in TF's
worker) and the same graph without batch norm (the bound no batch norm can
beat), the three sessions also run in rotation.

    bash scripts/benchmark.sh                 # everything
    bash scripts/benchmark.sh --repeats=50 --shapes=32x56x56x64
"""

import ctypes
import os
import platform
import statistics
import sys
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

import worker_process

FLAGS = flags.FLAGS
flags.DEFINE_integer("threads", 2, "Intra-op threads of the session.")
flags.DEFINE_integer("repeats", 30, "Timed runs per measurement.")
flags.DEFINE_integer("warmup", 5, "Untimed runs before each measurement.")
flags.DEFINE_list("shapes", ["32x56x56x64", "64x14x14x256", "256x7x7x512"],
                  "NHWC shapes; each is also run as its NCHW transpose.")
flags.DEFINE_list("half_dtypes", ["float16", "bfloat16"],
                  "Extra rows for the first shape in NHWC.")
flags.DEFINE_bool("training_step", True, "Time the TF1 training step too.")
flags.DEFINE_integer("step_batch", 32, "Batch of the training-step model.")
flags.DEFINE_enum("worker", None, ["ours", "tf"],
                  "Internal: serve timings of one worker process.")

CASES = ("train_fwd", "infer_fwd", "fwd_bwd", "bwd")
IMPLEMENTATIONS = ("ours", "tf_fused", "composite")
# What each worker process times; "tf" never loads our library.
WORKER_IMPLEMENTATIONS = {"ours": ("ours", "composite"), "tf": ("tf_fused",)}
# Passes over the tensor's bytes, as (reads, copies), for each case. The
# backward reads x and dy for its reductions, then reads them again and
# writes dx.
TRAFFIC = {"train_fwd": (1, 1), "infer_fwd": (0, 1), "fwd_bwd": (4, 2),
           "bwd": (3, 1)}


def cpu_name():
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown CPU"


def cpu_isa(library):
  """The instruction-set level the op library's CPU kernels run (or why none
  runs), from its C functions; the library is the one TensorFlow loaded."""
  lib = ctypes.CDLL(library)
  lib.bn_cpu_isa.restype = lib.bn_cpu_isa_error.restype = ctypes.c_char_p
  isa = lib.bn_cpu_isa()
  return isa.decode() if isa else "none (%s)" % lib.bn_cpu_isa_error().decode()


def session_config():
  return tf.compat.v1.ConfigProto(
      intra_op_parallelism_threads=FLAGS.threads,
      inter_op_parallelism_threads=1)


def _one_element(tensor):
  """A scalar that needs all of `tensor`: Grappler prunes ops that only feed
  a `tf.group`, and fetching whole tensors would time a copy to numpy."""
  return tf.reshape(tensor, [-1])[0]


def rotated_medians(runners):
  """Median seconds of each zero-argument callable, timed in rotation.

  Each callable returns the seconds its run took (a worker measures its
  own). Every round runs each callable once, starting one further along the
  list than the round before, so no callable always follows the same other
  one.
  """
  names = list(runners)
  for _ in range(FLAGS.warmup):
    for name in names:
      runners[name]()
  times = {name: [] for name in names}
  for round_index in range(FLAGS.repeats):
    shift = round_index % len(names)
    for name in names[shift:] + names[:shift]:
      times[name].append(runners[name]())
  return {name: statistics.median(t) for name, t in times.items()}


def _timed(fn):
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def _composite(x, scale, offset, mean, variance, data_format, is_training):
  axes = [0, 2, 3] if data_format == "NCHW" else [0, 1, 2]
  shape = [1, -1, 1, 1] if data_format == "NCHW" else [-1]
  x32 = tf.cast(x, tf.float32)
  if is_training:
    mean, variance = tf.nn.moments(x32, axes)
  y = tf.nn.batch_normalization(
      x32, tf.reshape(mean, shape), tf.reshape(variance, shape),
      tf.reshape(offset, shape), tf.reshape(scale, shape), 1e-3)
  return tf.cast(y, x.dtype), mean, variance


def _implementation(name):
  from tf_bn_compat import ops  # pylint: disable=g-import-not-at-top

  def fused(backend):
    def run(x, scale, offset, mean, variance, data_format, is_training):
      os.environ["TF_BN_COMPAT_BACKEND"] = backend
      return ops.fused_batch_norm(x, scale, offset, mean, variance,
                                  epsilon=1e-3, data_format=data_format,
                                  is_training=is_training)
    return run

  return {"ours": fused("custom"), "tf_fused": fused("tf"),
          "composite": _composite}[name]


def _backward_only(impl, x, scale, mean, variance, data_format):
  """The gradient op alone, fed the saved statistics it would get."""
  dy = tf.Variable(tf.cast(tf.random.stateless_normal(tf.shape(x), [1, 0]),
                           x.dtype)).read_value()
  if impl == "ours":
    from tf_bn_compat.ops import _library  # pylint: disable=g-import-not-at-top
    inv_std = tf.math.rsqrt(variance + 1e-3)
    return list(_library.load_library().tf_bn_compat_fused_batch_norm_grad(
        dy, x, scale, mean, inv_std, epsilon=1e-3, data_format=data_format,
        is_training=True))
  if impl == "tf_fused":
    return list(tf.raw_ops.FusedBatchNormGradV3(
        y_backprop=dy, x=x, scale=scale, reserve_space_1=mean,
        reserve_space_2=variance, reserve_space_3=variance, epsilon=1e-3,
        data_format=data_format, is_training=True)[:3])
  return None


def _case_outputs(impl, shape, data_format, dtype, case):
  """The tensors whose evaluation is one run of `impl` on `case`, or None."""
  channels = shape[1] if data_format == "NCHW" else shape[-1]
  x = tf.Variable(tf.cast(tf.random.stateless_normal(shape, [0, 0]),
                          dtype)).read_value()
  params = [tf.Variable(tf.random.stateless_uniform(
      [channels], [i, 1], 0.5, 1.5)) for i in range(4)]
  scale, offset, mean, variance = [p.read_value() for p in params]
  if case == "bwd":
    return _backward_only(impl, x, scale, mean, variance, data_format)
  fn = _implementation(impl)
  y, _, _ = fn(x, scale, offset, mean, variance, data_format,
               case != "infer_fwd")
  if case == "fwd_bwd":
    return tf.gradients(y, [x, scale, offset], grad_ys=tf.ones_like(y))
  return [y]


def _traffic_outputs(shape):
  """A read (`reduce_sum`) and a copy (`x + c`) of a float32 tensor."""
  x = tf.Variable(np.ones(shape, np.float32)).read_value()
  c = tf.compat.v1.placeholder_with_default(1.0, [])
  return {"read": [tf.reduce_sum(x)], "copy": [x + c]}


def _case_session(worker, shape, data_format, dtype, case, with_traffic):
  """(session, {name: fetch}) of `worker`'s implementations of one case."""
  graph = tf.Graph()
  with graph.as_default():
    outputs = {}
    for impl in WORKER_IMPLEMENTATIONS[worker]:
      with tf.name_scope(impl):
        result = _case_outputs(impl, shape, data_format, dtype, case)
      if result is not None:
        outputs[impl] = result
    if with_traffic and worker == "ours":
      outputs.update(_traffic_outputs(shape))
    fetches = {name: [_one_element(t) for t in tensors]
               for name, tensors in outputs.items()}
    sess = tf.compat.v1.Session(graph=graph, config=session_config())
    sess.run(tf.compat.v1.global_variables_initializer())
  return sess, fetches


def serve_worker(worker):
  """Builds and times sessions on requests from stdin, one line each.

  `case SHAPE FORMAT DTYPE CASE TRAFFIC` and `step` build (answering the
  names they time), `run NAME` answers the seconds of one run, `kernels`
  whose kernels ran: "ours FORWARD_CALLS GRADIENT_CALLS" or "tensorflow"
  (our library never loaded).
  """
  sessions, runs = [], {}
  print("ready", flush=True)
  for line in sys.stdin:
    words = line.split()
    if words[0] == "run":
      print("%.9f" % _timed(runs[words[1]]), flush=True)
      continue
    if words[0] == "kernels":
      print(_kernels_that_ran(), flush=True)
      continue
    for sess in sessions:
      sess.close()
    if words[0] == "case":
      sess, fetches = _case_session(worker, parse_shape(words[1]), words[2],
                                    words[3], words[4], words[5] == "1")
      sessions = [sess]
      runs = {n: (lambda s=sess, f=f: s.run(f))
              for n, f in fetches.items()}
    else:
      names = {"ours": ("ours", "no_bn"), "tf": ("tf_fused",)}[worker]
      built = {n: _training_step_session(STEP_BACKENDS[n]) for n in names}
      sessions = [sess for sess, _ in built.values()]
      runs = {n: (lambda s=sess, t=train: s.run(t))
              for n, (sess, train) in built.items()}
    print(" ".join(runs) or "-", flush=True)


def _kernels_that_ran():
  with open("/proc/self/maps") as f:
    if "_tf_bn_compat_ops" not in f.read():
      return "tensorflow"
  from tf_bn_compat.ops import _library  # pylint: disable=g-import-not-at-top
  return "ours %d %d" % _library.stock_kernel_runs()


class Worker(worker_process.WorkerProcess):
  """A worker process of this script (see serve_worker)."""

  def __init__(self, worker, argv):
    super().__init__(__file__, ["--worker=" + worker] + argv[1:],
                     {"TF_BN_COMPAT_BACKEND": "tf"} if worker == "tf" else {})

  def runners(self, build_line):
    """{name: callable returning seconds} for what `build_line` builds."""
    names = self.ask(build_line).split()
    return {n: (lambda n=n: float(self.ask("run " + n)))
            for n in names if n != "-"}


def time_case(workers, shape, data_format, dtype, case, with_traffic):
  """Median seconds per implementation (and traffic probe) on one case."""
  line = "case %s %s %s %s %d" % ("x".join(map(str, shape)), data_format,
                                  dtype, case, with_traffic)
  runners = {}
  for worker in workers.values():
    runners.update(worker.runners(line))
  medians = rotated_medians(runners)
  return {name: medians.get(name, float("nan"))
          for name in IMPLEMENTATIONS + ("read", "copy")}


def parse_shape(text):
  return tuple(int(v) for v in text.lower().split("x"))


def op_rows(workers):
  rows = []
  first = parse_shape(FLAGS.shapes[0])
  plan = []
  for text in FLAGS.shapes:
    nhwc = parse_shape(text)
    nchw = (nhwc[0], nhwc[3], nhwc[1], nhwc[2])
    plan.append((nhwc, "NHWC", "float32"))
    plan.append((nchw, "NCHW", "float32"))
  for dtype in FLAGS.half_dtypes:
    plan.append((first, "NHWC", dtype))
  for shape, data_format, dtype in plan:
    is_float32 = dtype == "float32"
    for case in CASES:
      times = time_case(workers, shape, data_format, dtype, case,
                        is_float32)
      reads, copies = TRAFFIC[case]
      limit = reads * times["read"] + copies * times["copy"]
      rows.append((("x".join(map(str, shape))), data_format, dtype, case,
                   times["ours"], times["tf_fused"], times["composite"],
                   times["tf_fused"] / times["ours"],
                   limit if is_float32 else float("nan"),
                   limit / times["ours"] if is_float32 else float("nan"),
                   limit / times["tf_fused"] if is_float32 else float("nan")))
      print("  measured %-12s %-4s %-8s %-9s ours %.3f ms" %
            (rows[-1][0], data_format, dtype, case, times["ours"] * 1e3),
            flush=True)
  return rows


def _conv_net(images, training, backend):
  """12 conv + batch norm blocks, NHWC; returns the loss.

  backend: "custom" (our op), "tf" (TF's fused op) or None (no batch norm:
  the step time that a batch norm of zero cost would give).
  """
  from tf_bn_compat import layers  # pylint: disable=g-import-not-at-top
  if backend:
    os.environ["TF_BN_COMPAT_BACKEND"] = backend
  x = images
  widths = [32, 32, 64, 64, 64, 64, 128, 128, 128, 128, 128, 128]
  strides = [1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 1, 1]
  for i, (width, stride) in enumerate(zip(widths, strides)):
    kernel = tf.compat.v1.get_variable(
        "conv%d" % i, [3, 3, x.shape[-1], width],
        initializer=tf.compat.v1.glorot_uniform_initializer())
    x = tf.nn.conv2d(x, kernel, stride, "SAME")
    if backend:
      x = layers.batch_normalization(x, training=training)
    x = tf.nn.relu(x)
  return tf.reduce_mean(tf.square(tf.reduce_mean(x, [1, 2])))


def _training_step_session(backend):
  """A session and train op of the conv net (see _conv_net's backend)."""
  graph = tf.Graph()
  with graph.as_default():
    images = tf.Variable(np.random.RandomState(0).standard_normal(
        (FLAGS.step_batch, 32, 32, 16)).astype(np.float32)).read_value()
    loss = _conv_net(images, True, backend)
    updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(updates):
      train = tf.compat.v1.train.MomentumOptimizer(0.01, 0.9).minimize(loss)
    init = tf.compat.v1.global_variables_initializer()
  sess = tf.compat.v1.Session(graph=graph, config=session_config())
  sess.run(init)
  return sess, train


STEP_BACKENDS = {"ours": "custom", "tf_fused": "tf", "no_bn": None}


def time_training_steps(workers):
  """Median step seconds of our layer, TF's op and no batch norm, rotated."""
  runners = {}
  for worker in workers.values():
    runners.update(worker.runners("step"))
  return rotated_medians(runners)


def main(argv):
  tf.get_logger().setLevel("ERROR")
  if FLAGS.worker:
    return serve_worker(FLAGS.worker)
  from tf_bn_compat.ops import _library  # pylint: disable=g-import-not-at-top
  if _library.load_library() is None:
    raise SystemExit("the compiled op library does not load: %s" %
                     _library.load_error())
  print("machine: %s, %d cores visible; threads: %d; TensorFlow %s; "
        "repeats: %d (median); our CPU kernels: %s; TF_ENABLE_ONEDNN_OPTS=%s"
        % (cpu_name(), os.cpu_count(), FLAGS.threads, tf.__version__,
           FLAGS.repeats, cpu_isa(_library.library_path()),
           os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")))
  del argv  # The workers get the whole command line.
  workers = {w: Worker(w, sys.argv) for w in ("ours", "tf")}
  try:
    run_tables(workers)
    print()
    print("kernels that ran: ours' worker: %s (calls of our kernels for "
          "FusedBatchNormV3 / ...GradV3); TF's worker: %s" % (
              workers["ours"].ask("kernels"), workers["tf"].ask("kernels")))
  finally:
    for worker in workers.values():
      worker.close()


def run_tables(workers):
  """Prints the per-op table and the training-step table."""
  rows = op_rows(workers)
  header = ("shape", "layout", "dtype", "case", "ours ms", "tf_fused ms",
            "composite ms", "tf/ours", "limit ms", "limit/ours", "limit/tf")
  print()
  print("| " + " | ".join(header) + " |")
  print("|" + "---|" * len(header))
  percent = lambda v: "-" if np.isnan(v) else "%.0f%%" % (v * 100)
  for r in rows:
    print("| %s | %s | %s | %s | %.3f | %.3f | %s | %.2fx | %s | %s | %s |" % (
        r[0], r[1], r[2], r[3], r[4] * 1e3, r[5] * 1e3,
        "-" if np.isnan(r[6]) else "%.3f" % (r[6] * 1e3), r[7],
        "-" if np.isnan(r[8]) else "%.3f" % (r[8] * 1e3),
        percent(r[9]), percent(r[10])))
  if FLAGS.training_step:
    steps = time_training_steps(workers)
    ours, theirs, bound = steps["ours"], steps["tf_fused"], steps["no_bn"]
    print()
    print("| TF1 training step (12 BN layers, batch %d) | ms |" %
          FLAGS.step_batch)
    print("|---|---|")
    print("| our layer on our op | %.2f |" % (ours * 1e3))
    print("| same graph on TF's fused op | %.2f |" % (theirs * 1e3))
    print("| same graph without batch norm | %.2f |" % (bound * 1e3))
    print("| ours / TF | %.2fx |" % (ours / theirs))
    print("| no batch norm / TF (the best any batch norm can reach) | %.2fx |"
          % (bound / theirs))


if __name__ == "__main__":
  app.run(main)
