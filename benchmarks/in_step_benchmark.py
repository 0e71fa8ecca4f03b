r"""CPU benchmark: a batch norm forward where a training step runs it.

batch_norm_benchmark.py times each op on a cold input (evicted by the runs
between); a loop of one op on one input times it warm. A training step does
neither: the batch norm reads what the convolution before it has just
written (in the caches as far as they hold it) and the layer after it reads
the batch norm's output at once. This times that: each run is

  producer  x = v * c          (writes x, as a convolution's output)
  the op    y = batch_norm(x)  (training forward or inference)
  consumer  reduce_sum(y)      (reads y, as the next layer would)

against the same run without the op (reduce_sum(v * c)); the difference is
the op's cost in the step. A third column times the op alone in a loop on
one input (`warm`). Each implementation runs in a Python of its own (ours:
the op library; tf: TF_BN_COMPAT_BACKEND=tf, never loaded; and, with
--variant_library, ours built otherwise, e.g. without streaming stores),
timed in rotation, one run of each per round.

    python benchmarks/in_step_benchmark.py [--repeats=30 \
        --shapes=32x56x56x64,64x14x14x256] [--variant_library=PATH]
"""

import argparse
import os
import platform
import statistics
import sys
import time

import worker_process
CASES = ("train_fwd", "infer_fwd")
RUNS = ("step", "no_bn", "warm")


def _worker(threads):
  """Builds a case per `case SHAPE CASE` line, times `run NAME` requests."""
  # pylint: disable=g-import-not-at-top
  import numpy as np
  import tensorflow as tf
  from tf_bn_compat import ops
  config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=threads,
                                    inter_op_parallelism_threads=1)
  sess = None
  print("ready", flush=True)
  for line in sys.stdin:
    words = line.split()
    if words[0] == "run":
      start = time.perf_counter()
      sess.run(fetches[words[1]])
      print("%.9f" % (time.perf_counter() - start), flush=True)
      continue
    if words[0] == "kernels":
      with open("/proc/self/maps") as f:
        maps = f.read()
      loaded = [l.split()[-1] for l in maps.splitlines()
                if "_tf_bn_compat_ops" in l]
      if loaded:
        from tf_bn_compat.ops import _library
        print("%s, %d forward calls" % (loaded[0],
                                        _library.stock_kernel_runs()[0]),
              flush=True)
      else:
        print("TensorFlow's kernels", flush=True)
      continue
    if sess is not None:
      sess.close()
    shape = tuple(int(v) for v in words[1].split("x"))
    training = words[2] == "train_fwd"
    with tf.Graph().as_default() as graph:
      rng = np.random.RandomState(0)
      v = tf.Variable(rng.standard_normal(shape).astype(np.float32))
      params = [tf.constant(rng.uniform(0.5, 1.5, shape[-1]), tf.float32)
                for _ in range(4)]
      c = tf.compat.v1.placeholder_with_default(1.0, [])

      def bn(x, use):
        # Fetching the op's second output too keeps grappler from replacing
        # an inference batch norm by primitive ops (it does when only y is
        # used), so that the kernels run.
        y, mean, _ = ops.fused_batch_norm(x, *params, epsilon=1e-3,
                                          is_training=training)
        return [use(y), mean[0]]

      x = v * c
      fetches = {"step": bn(x, tf.reduce_sum), "no_bn": tf.reduce_sum(x),
                 "warm": bn(v.read_value(), lambda y: tf.reshape(y, [-1])[0])}
      sess = tf.compat.v1.Session(graph=graph, config=config)
      sess.run(tf.compat.v1.global_variables_initializer())
    print("built", flush=True)


def _start_worker(name, library, threads):
  env = {"TF_BN_COMPAT_BACKEND": "tf" if name == "tf" else "custom"}
  if library:
    env["TF_BN_COMPAT_OPS_LIBRARY"] = library
  worker = worker_process.WorkerProcess(
      __file__, ["--worker", "--threads=%d" % threads], env)
  assert worker.ready_line == "ready"
  return worker


def _cpu_line():
  model = platform.processor()
  with open("/proc/cpuinfo") as f:
    for line in f:
      if line.startswith("model name"):
        model = line.split(":", 1)[1].strip()
        break
  return model


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--repeats", type=int, default=30)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--threads", type=int, default=2)
  parser.add_argument("--shapes", default="32x56x56x64,64x14x14x256")
  parser.add_argument("--variant_library", default="")
  parser.add_argument("--worker", action="store_true",
                      help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    return _worker(args.threads)
  names = ["ours", "tf"] + (["variant"] if args.variant_library else [])
  workers = {n: _start_worker(n, args.variant_library if n == "variant"
                             else "", args.threads) for n in names}
  print("CPU: %s; TF_ENABLE_ONEDNN_OPTS=%s; %d threads; median of %d "
        "(min-max), ms" % (_cpu_line(), os.environ.get(
            "TF_ENABLE_ONEDNN_OPTS", "(unset)"), args.threads, args.repeats))
  print("| shape NHWC | case | impl | in step (step - no_bn) | step | no_bn "
        "| warm loop |")
  print("|---|---|---|---|---|---|---|")
  try:
    for shape in args.shapes.split(","):
      for case in CASES:
        for w in workers.values():
          assert w.ask("case %s %s" % (shape, case)) == "built"
        keys = [(n, r) for n in names for r in RUNS]
        times = {k: [] for k in keys}
        for i in range(args.warmup + args.repeats):
          shift = i % len(keys)
          for n, r in keys[shift:] + keys[:shift]:
            t = float(workers[n].ask("run " + r))
            if i >= args.warmup:
              times[(n, r)].append(t * 1e3)
        for n in names:
          diffs = [a - b for a, b in zip(times[(n, "step")],
                                         times[(n, "no_bn")])]
          med = {r: statistics.median(times[(n, r)]) for r in RUNS}
          spread = lambda v: "%.2f-%.2f" % (min(v), max(v))
          print("| %s | %s | %s | %.3f | %.3f (%s) | %.3f | %.3f (%s) |" % (
              shape, case, n, statistics.median(diffs), med["step"],
              spread(times[(n, "step")]), med["no_bn"], med["warm"],
              spread(times[(n, "warm")])), flush=True)
    print("kernels: " + "; ".join("%s: %s" % (n, w.ask("kernels"))
                                  for n, w in workers.items()))
  finally:
    for w in workers.values():
      w.close()
  return 0


if __name__ == "__main__":
  sys.exit(main())
