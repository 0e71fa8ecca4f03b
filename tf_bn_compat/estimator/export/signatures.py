"""From a model_fn's outputs to the SignatureDefs of an exported model."""

import collections
import os
import time

import tensorflow as tf

from tf_bn_compat.estimator import mode_keys
from tf_bn_compat.estimator.export import outputs as outputs_lib

ModeKeys = mode_keys.ModeKeys
DEFAULT_KEY = tf.compat.v1.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY
SINGLE_RECEIVER_DEFAULT_NAME = "input"
# The MetaGraph tags each mode is exported under.
EXPORT_TAGS = {
    ModeKeys.PREDICT: [tf.compat.v1.saved_model.SERVING],
    ModeKeys.TRAIN: [tf.compat.v1.saved_model.TRAINING],
    ModeKeys.EVAL: ["eval"],  # tag_constants.EVAL, not exported in TF 2.16+.
}
_MAX_EXPORT_DIR_ATTEMPTS = 10


def serving_export_outputs(export_outputs, predictions):
  """The checked `export_outputs` of a PREDICT EstimatorSpec.

  Args:
    export_outputs: Dict of name to `ExportOutput`, or None (then one
      `PredictOutput` of `predictions`).
    predictions: The spec's predictions.

  Returns:
    The dict, with the default serving key added when there is one output.

  Raises:
    TypeError: If it is not a dict of `ExportOutput`s.
    ValueError: If several outputs are given and none is the default.
  """
  if export_outputs is None:
    export_outputs = {DEFAULT_KEY: outputs_lib.PredictOutput(predictions)}
  if not isinstance(export_outputs, dict):
    raise TypeError(
        "`export_outputs` must be dict, received: {}.".format(export_outputs))
  if not all(isinstance(v, outputs_lib.ExportOutput)
             for v in export_outputs.values()):
    raise TypeError("Values in `export_outputs` must be ExportOutput objects, "
                    "received: {}.".format(export_outputs))
  export_outputs = dict(export_outputs)
  if len(export_outputs) == 1:
    export_outputs.setdefault(DEFAULT_KEY, next(iter(export_outputs.values())))
  elif DEFAULT_KEY not in export_outputs:
    raise ValueError(
        "Multiple `export_outputs` were provided, but none of them are "
        "specified as the default. Use"
        "`tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY` to specify a "
        "default.")
  return export_outputs


def export_outputs_for_mode(spec):
  """The `ExportOutput`s an EstimatorSpec exports, by signature name."""
  if spec.mode == ModeKeys.PREDICT:
    return serving_export_outputs(spec.export_outputs, spec.predictions)
  output_class = (outputs_lib.TrainOutput if spec.mode == ModeKeys.TRAIN
                  else outputs_lib.EvalOutput)
  return {spec.mode: output_class(loss=spec.loss,
                                  predictions=spec.predictions,
                                  metrics=spec.eval_metric_ops)}


def _unfed_placeholder(inputs, outputs):
  """A Placeholder that `outputs` need and `inputs` do not feed, or None."""
  fed = {t.ref() for t in inputs}
  seen = set()
  stack = [t.op for t in outputs if t.ref() not in fed]
  while stack:
    op = stack.pop()
    if op in seen:
      continue
    seen.add(op)
    if op.type == "Placeholder":
      return op
    stack.extend(t.op for t in op.inputs if t.ref() not in fed)
    stack.extend(op.control_inputs)
  return None


def _checked_signature(export_output, receiver_tensors):
  signature = export_output.as_signature_def(receiver_tensors)
  graph = next(iter(receiver_tensors.values())).graph
  outputs = [graph.get_tensor_by_name(info.name)
             for info in signature.outputs.values()]
  inputs = [t for t in receiver_tensors.values() if isinstance(t, tf.Tensor)]
  placeholder = _unfed_placeholder(inputs, outputs)
  if placeholder is not None:
    raise ValueError(
        "The signature's input tensors {} are insufficient to compute its "
        "output keys {} because of the dependency on `{}` which is not given "
        "as a signature input.".format(
            [t.name for t in inputs], list(signature.outputs),
            placeholder.name))
  return signature


def build_all_signature_defs(receiver_tensors, export_outputs,
                             receiver_tensors_alternatives=None,
                             serving_only=True):
  """SignatureDefs of every (receiver, export output) pair that works.

  Args:
    receiver_tensors: A `Tensor` or dict of string to `Tensor`.
    export_outputs: Dict of name to `ExportOutput`.
    receiver_tensors_alternatives: Optional dict of name to other receivers;
      their signatures are named "<receiver>:<output>".
    serving_only: Keep only signatures TensorFlow Serving can serve.

  Returns:
    Dict of signature name to `SignatureDef`. A pair that raises ValueError
    is left out and logged.

  Raises:
    ValueError: If `export_outputs` is not a dict.
  """
  if not isinstance(export_outputs, dict):
    raise ValueError("`export_outputs` must be a dict. Received {} with type "
                     "{}.".format(export_outputs,
                                  type(export_outputs).__name__))
  receivers = {None: receiver_tensors}
  receivers.update(receiver_tensors_alternatives or {})
  signatures, excluded = {}, {}
  for receiver_name, tensors in receivers.items():
    if not isinstance(tensors, dict):
      tensors = {SINGLE_RECEIVER_DEFAULT_NAME: tensors}
    for output_key, export_output in export_outputs.items():
      name = "{}".format(output_key or "None")
      if receiver_name is not None:
        name = "{}:{}".format(receiver_name, name)
      try:
        signatures[name] = _checked_signature(export_output, tensors)
      except ValueError as error:
        excluded[name] = str(error)
  _log_report(signatures, excluded)
  if serving_only:
    signatures = {k: v for k, v in signatures.items()
                  if tf.compat.v1.saved_model.is_valid_signature(v)}
  return signatures


_FRIENDLY_METHOD_NAMES = collections.OrderedDict([
    (tf.compat.v1.saved_model.CLASSIFY_METHOD_NAME, "Classify"),
    (tf.compat.v1.saved_model.REGRESS_METHOD_NAME, "Regress"),
    (tf.compat.v1.saved_model.PREDICT_METHOD_NAME, "Predict"),
    (outputs_lib.SUPERVISED_TRAIN_METHOD_NAME, "Train"),
    (outputs_lib.SUPERVISED_EVAL_METHOD_NAME, "Eval"),
])


def _log_report(signatures, excluded):
  """Logs, per method, the signatures exported, then those left out."""
  by_method = collections.OrderedDict(
      (method, []) for method in _FRIENDLY_METHOD_NAMES)
  for name, signature in signatures.items():
    by_method.setdefault(signature.method_name, []).append(name)
  for method, names in by_method.items():
    tf.compat.v1.logging.info(
        "Signatures INCLUDED in export for {}: {}".format(
            _FRIENDLY_METHOD_NAMES.get(method, method), names or "None"))
  if excluded:
    tf.compat.v1.logging.info("Signatures EXCLUDED from export because they "
                              "cannot be be served via TensorFlow Serving "
                              "APIs:")
    for name, message in excluded.items():
      tf.compat.v1.logging.info("'{}' : {}".format(name, message))
  if not signatures:
    tf.compat.v1.logging.warning("Export includes no signatures!")
  elif DEFAULT_KEY not in signatures:
    tf.compat.v1.logging.warning("Export includes no default signature!")


def timestamped_export_dir(export_dir_base):
  """`export_dir_base/<seconds since the epoch>`, not existing yet (bytes).

  Raises:
    RuntimeError: If no free name was found in 10 attempts (a second apart).
  """
  for attempt in range(1, _MAX_EXPORT_DIR_ATTEMPTS + 1):
    result = os.path.join(tf.compat.as_bytes(export_dir_base),
                          tf.compat.as_bytes(str(int(time.time()))))
    if not tf.io.gfile.exists(result):
      return result
    time.sleep(1)
    tf.compat.v1.logging.warning(
        "Directory %s already exists; retrying (attempt %d/%d)",
        tf.compat.as_str(result), attempt, _MAX_EXPORT_DIR_ATTEMPTS)
  raise RuntimeError("Failed to obtain a unique export directory name after "
                     "{} attempts.".format(_MAX_EXPORT_DIR_ATTEMPTS))


def temp_export_dir(export_dir):
  """The sibling `temp-<name>` an export is written to before its rename."""
  head, tail = os.path.split(tf.compat.as_bytes(export_dir))
  return os.path.join(head, b"temp-" + tail)
