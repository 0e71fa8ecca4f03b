"""`Estimator.predict`: run the PREDICT graph on a checkpoint and yield
its predictions, batch by batch or example by example.

Steps: pick the checkpoint, build the graph (input_fn features, model_fn,
warm start if there is no checkpoint), select `predict_keys`, run in a
`MonitoredSession` until the input ends, split batches into examples.
"""

import tensorflow as tf

from tf_bn_compat.estimator import graph as graph_lib
from tf_bn_compat.estimator import hooks as hooks_lib
from tf_bn_compat.estimator import input_pipeline
from tf_bn_compat.estimator import mode_keys
from tf_bn_compat.estimator import warm_starting

_logging = tf.compat.v1.logging
ModeKeys = mode_keys.ModeKeys


def select_keys(predictions, predict_keys):
  """The predictions named in `predict_keys` (all when None or empty).

  Raises:
    ValueError: If keys are asked of non-dict predictions, or none of them
      exists.
  """
  if not predict_keys:
    return predictions
  if not isinstance(predictions, dict):
    raise ValueError(
        "predict_keys argument is not valid in case of non-dict predictions.")
  if isinstance(predict_keys, str):
    predict_keys = [predict_keys]
  selected = {k: v for k, v in predictions.items() if k in predict_keys}
  if not selected:
    raise ValueError("Expected to run at least one output from {}, provided "
                     "{}.".format(predictions.keys(), predict_keys))
  return selected


def batch_length(values):
  """The common first dimension of a dict of prediction arrays.

  Raises:
    ValueError: If the predictions have different batch lengths.
  """
  length = None
  for key, value in values.items():
    length = length or value.shape[0]
    if value.shape[0] != length:
      raise ValueError("Batch length of predictions should be same. %s has "
                       "different batch length than others." % key)
  return length


def _examples(batch, yield_single_examples):
  """Yields `batch` itself, or one example (dict or array row) at a time."""
  if not yield_single_examples:
    yield batch
  elif not isinstance(batch, dict):
    for example in batch:
      yield example
  else:
    for i in range(batch_length(batch)):
      yield {key: value[i] for key, value in batch.items()}


def predict(estimator, input_fn, predict_keys=None, hooks=None,
            checkpoint_path=None, yield_single_examples=True):
  """Yields `estimator`'s predictions; see `Estimator.predict`."""
  hooks = hooks_lib.check_hooks(hooks)
  config = estimator.config
  if not checkpoint_path:
    checkpoint_path = estimator.latest_checkpoint()
    if not checkpoint_path:
      _logging.info("Could not find trained model in model_dir: {}, running "
                    "initialization to predict.".format(estimator.model_dir))
  with graph_lib.mode_graph(config):
    features, _, input_hooks = input_pipeline.features_and_labels(
        estimator.call_input_fn(input_fn, ModeKeys.PREDICT))
    if not input_pipeline.uses_dataset_or_queue():
      _logging.warning("Input graph does not use tf.data.Dataset or contain "
                       "a QueueRunner. That means predict yields forever. "
                       "This is probably a mistake.")
    spec = estimator.call_model_fn(features, None, ModeKeys.PREDICT, config)
    if not checkpoint_path and estimator.warm_start_settings:
      warm_starting.warm_start(estimator.warm_start_settings)
    predictions = select_keys(spec.predictions, predict_keys)
    all_hooks = list(input_hooks) + hooks + list(spec.prediction_hooks)
    creator = tf.compat.v1.train.ChiefSessionCreator(
        checkpoint_filename_with_path=checkpoint_path, master=config.master,
        scaffold=spec.scaffold, config=config.session_config)
    with tf.compat.v1.train.MonitoredSession(
        session_creator=creator, hooks=all_hooks) as session:
      while not session.should_stop():
        batch = session.run(predictions)
        yield from _examples(batch, yield_single_examples)
