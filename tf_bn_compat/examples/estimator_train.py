"""Trains and evaluates the Estimator example, in one process or on a cluster.

  python -m tf_bn_compat.examples.estimator_train --model_dir /tmp/model
  python -m tf_bn_compat.examples.estimator_train --model_dir /tmp/model \\
      --cluster

Without `--cluster`, `tf.estimator.train_and_evaluate` runs locally. With
it, this program starts a `TF_CONFIG` cluster of local processes on
127.0.0.1 (a chief, two workers, a parameter server and an evaluator), each
running this module as its task: chief and workers train between-graph into
one model_dir with the variables on the parameter server (worker i starts
5 * (i + 1) seconds late, as TensorFlow's Estimator does), the evaluator
evaluates each new checkpoint and makes the final export. Once the chief,
the workers and the evaluator are done, the parameter server is stopped.
The model is `estimator_model_fn.model_fn`: a convnet with TF1 batch
normalization, or with `--network resnet` the ResNet of `resnet_tf1.py`; on TF 2.16+ `tf.estimator` is this package's, installed by
`tf_bn_compat.patch_tf()`.
"""

import argparse
import json
import os
import socket
import subprocess
import sys

import tensorflow as tf

from tf_bn_compat.examples import estimator_model_fn as example

_TASKS = (("ps", 0), ("chief", 0), ("worker", 0), ("worker", 1),
          ("evaluator", 0))
_BATCH = 16


def _install_estimator():
  if getattr(tf, "estimator", None) is None:
    import tf_bn_compat  # pylint: disable=g-import-not-at-top
    tf_bn_compat.patch_tf()


def train_and_evaluate(model_dir, max_steps, network="convnet"):
  """Runs `train_and_evaluate`: locally, or the task TF_CONFIG names.

  Args:
    model_dir: The model directory.
    max_steps: `TrainSpec.max_steps`.
    network: "convnet" or "resnet" (`estimator_model_fn.model_fn`).

  Returns:
    What `tf.estimator.train_and_evaluate` returns.
  """
  _install_estimator()
  images, labels = example.make_data(256, seed=0)
  eval_images, eval_labels = example.make_data(64, seed=1)
  config = tf.estimator.RunConfig(
      model_dir=model_dir, tf_random_seed=1,
      save_checkpoints_steps=max(max_steps // 4, 1))
  estimator = tf.estimator.Estimator(example.model_fn, config=config,
                                     params={"learning_rate": 0.05,
                                             "network": network})
  train_spec = tf.estimator.TrainSpec(
      example.input_fn(images, labels, _BATCH, repeat=True),
      max_steps=max_steps)
  eval_spec = tf.estimator.EvalSpec(
      example.input_fn(eval_images, eval_labels, 32, repeat=False),
      steps=None, start_delay_secs=1, throttle_secs=2,
      exporters=[tf.estimator.FinalExporter(
          "final", example.serving_input_receiver_fn)])
  return tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  try:
    for s in sockets:
      s.bind(("127.0.0.1", 0))
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


def local_cluster():
  """A cluster spec dict of a chief, two workers and a ps on free ports."""
  addresses = ["127.0.0.1:%d" % port for port in _free_ports(4)]
  return {"chief": addresses[:1], "worker": addresses[1:3],
          "ps": addresses[3:]}


def run_cluster(model_dir, max_steps, timeout_secs, network="convnet"):
  """Runs every task of `local_cluster()` as a process of this module.

  Args:
    model_dir: The model directory.
    max_steps: `TrainSpec.max_steps`.
    timeout_secs: Longest wait for the chief, workers and evaluator.
    network: "convnet" or "resnet".

  Returns:
    Dict of "type:index" to the task's exit code (None: stopped).
  """
  cluster = local_cluster()
  processes = {}
  try:
    for task_type, index in _TASKS:
      tf_config = {"cluster": cluster,
                   "task": {"type": task_type, "index": index}}
      env = dict(os.environ, TF_CONFIG=json.dumps(tf_config))
      processes["%s:%d" % (task_type, index)] = subprocess.Popen(
          [sys.executable, "-m", __spec__.name, "--model_dir", model_dir,
           "--max_steps", str(max_steps), "--network", network], env=env)
    for name, process in processes.items():
      if not name.startswith("ps:"):
        process.wait(timeout=timeout_secs)
  finally:
    for process in processes.values():
      if process.poll() is None:
        process.kill()
      process.wait()
  return {name: (None if name.startswith("ps:") else p.returncode)
          for name, p in processes.items()}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model_dir", required=True)
  parser.add_argument("--max_steps", type=int, default=400)
  parser.add_argument("--cluster", action="store_true",
                      help="run a chief, 2 workers, a ps and an evaluator "
                      "as local processes")
  parser.add_argument("--timeout_secs", type=float, default=600)
  parser.add_argument("--network", choices=("convnet", "resnet"),
                      default="convnet")
  args = parser.parse_args(argv)
  if args.cluster:
    codes = run_cluster(args.model_dir, args.max_steps, args.timeout_secs,
                        args.network)
    print("exit codes:", codes)
    print("final step:",
          tf.train.load_variable(args.model_dir, "global_step"))
    return 0 if all(c in (0, None) for c in codes.values()) else 1
  if "TF_CONFIG" not in os.environ:
    print(train_and_evaluate(args.model_dir, args.max_steps, args.network))
    return 0
  train_and_evaluate(args.model_dir, args.max_steps, args.network)
  sys.stdout.flush()
  sys.stderr.flush()
  # A task's tf.distribute.Server keeps its process alive.
  os._exit(0)  # pylint: disable=protected-access


if __name__ == "__main__":
  sys.exit(main())
