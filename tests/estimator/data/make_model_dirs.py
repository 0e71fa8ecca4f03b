"""Writes a small Estimator model_dir and what its Estimator computed from it.

Usage (from the repository root):

  # TF 2.15's own tf.estimator (the 2.15 environment; the package's op
  # built for it, see the README):
  python tests/estimator/data/make_model_dirs.py native
  # tf_bn_compat.estimator (any TensorFlow; the TF 2.21 environment):
  python tests/estimator/data/make_model_dirs.py ours

Each writes tests/estimator/data/<maker>_tf<X.Y>/ (replacing it): the
model of tests/estimator/estimator_models.py trained 10 steps with a
checkpoint every 5 and keep_checkpoint_max=3, without graph files or
summaries (to keep it small), plus expected.json: the evaluation and the
predicted probabilities of the data below, as that Estimator computed them,
and the TensorFlow version. tests/estimator/test_estimator_model_dirs.py
resumes, warm-starts and evaluates these directories with the other
Estimator and TensorFlow version.
"""

import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path[:0] = [os.path.dirname(HERE), ROOT]

import tensorflow as tf  # pylint: disable=g-import-not-at-top

import estimator_models as models  # pylint: disable=g-import-not-at-top

TRAIN_SEED, EVAL_SEED = 0, 1
STEPS = 10


def config(est, model_dir):
  return models.run_config(est, model_dir=model_dir, save_summary_steps=None,
                           log_step_count_steps=None,
                           checkpoint_save_graph_def=False)


def estimator_module(maker):
  if maker == "native":
    if not hasattr(tf, "estimator"):
      raise SystemExit("TensorFlow %s has no tf.estimator" % tf.__version__)
    return tf.estimator
  from tf_bn_compat import estimator  # pylint: disable=g-import-not-at-top
  return estimator


def main(maker):
  est = estimator_module(maker)
  version = ".".join(tf.__version__.split(".")[:2])
  model_dir = os.path.join(HERE, "%s_tf%s" % (maker, version))
  shutil.rmtree(model_dir, ignore_errors=True)
  x, y = models.make_data(64, seed=TRAIN_SEED)
  ex, ey = models.make_data(40, seed=EVAL_SEED)
  estimator = est.Estimator(models.make_model_fn(est),
                            config=config(est, model_dir))
  estimator.train(models.train_input_fn(x, y), steps=STEPS)
  evaluation = estimator.evaluate(models.eval_input_fn(ex, ey))
  probabilities = [p["probabilities"].tolist() for p in
                   estimator.predict(models.predict_input_fn(ex))]
  expected = {
      "tensorflow": tf.__version__,
      "maker": maker,
      "evaluation": {k: float(v) for k, v in evaluation.items()},
      "probabilities": probabilities,
  }
  # The evaluation summaries and the graph the checkpoint hook writes to
  # the events are not needed by the tests, and are most of the size.
  shutil.rmtree(os.path.join(model_dir, "eval"), ignore_errors=True)
  for name in tf.io.gfile.glob(os.path.join(model_dir, "events.out.*")):
    os.remove(name)
  with open(os.path.join(model_dir, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1)
  print(model_dir, sorted(os.listdir(model_dir)))


if __name__ == "__main__":
  main(sys.argv[1] if len(sys.argv) > 1 else "native")
