"""Calling user functions: argument inspection and the one model_fn call."""

import functools
import inspect

import tensorflow as tf

from tf_bn_compat.estimator import estimator_spec as spec_lib

VALID_MODEL_FN_ARGS = frozenset(
    ["features", "labels", "mode", "params", "self", "config"])


def function_args(fn):
  """The names of `fn`'s positional parameters, as TensorFlow counts them.

  A `functools.partial` loses the parameters it binds, a bound method its
  first one, and a callable object is read through `__call__`. Keyword-only
  parameters and `*args`/`**kwargs` are not counted.

  Args:
    fn: A callable.

  Returns:
    Tuple of parameter names.
  """
  if isinstance(fn, functools.partial):
    args = function_args(fn.func)[len(fn.args):]
    return tuple(a for a in args if a not in (fn.keywords or {}))
  if not (inspect.isfunction(fn) or inspect.ismethod(fn)):
    fn = fn.__call__  # A callable object.
  args = list(inspect.getfullargspec(fn).args)
  if inspect.ismethod(fn) and args:
    args.pop(0)  # `self` (or `cls`), already bound.
  return tuple(args)


def verify_model_fn_args(model_fn, params):
  """Checks a model_fn's signature as the Estimator constructor did.

  Args:
    model_fn: The model function.
    params: The Estimator's params (None if not given).

  Raises:
    ValueError: If `features` is missing, `params` is given to a model_fn
      without that argument, or an argument is not one an Estimator passes.
  """
  args = set(function_args(model_fn))
  if "features" not in args:
    raise ValueError("model_fn (%s) must include features argument." %
                     model_fn)
  if params is not None and "params" not in args:
    raise ValueError("model_fn (%s) does not include params argument, but "
                     "params (%s) is passed to Estimator." % (model_fn, params))
  if params is None and "params" in args:
    tf.compat.v1.logging.warning(
        "Estimator's model_fn (%s) includes params argument, but params are "
        "not passed to Estimator.", model_fn)
  unexpected = sorted(args - VALID_MODEL_FN_ARGS)
  if unexpected:
    raise ValueError("model_fn (%s) has following not expected args: %s" %
                     (model_fn, unexpected))


def call_model_fn(model_fn, features, labels, mode, params, config):
  """Calls `model_fn` with the arguments it takes; checks its result.

  Args:
    model_fn: The model function.
    features: Features from the input_fn (or the serving receiver).
    labels: Labels, or None.
    mode: A `ModeKeys` value.
    params: Dict of hyperparameters.
    config: The `RunConfig`.

  Returns:
    The `EstimatorSpec`.

  Raises:
    ValueError: If labels are given to a model_fn without `labels`, or the
      result is not an `EstimatorSpec`.
  """
  args = function_args(model_fn)
  kwargs = {}
  if "labels" in args:
    kwargs["labels"] = labels
  elif labels is not None:
    raise ValueError(
        "model_fn does not take labels, but input_fn returns labels.")
  for name, value in (("mode", mode), ("params", params), ("config", config)):
    if name in args:
      kwargs[name] = value
  tf.compat.v1.logging.info("Calling model_fn.")
  spec = model_fn(features=features, **kwargs)
  tf.compat.v1.logging.info("Done calling model_fn.")
  if not isinstance(spec, spec_lib.EstimatorSpec):
    raise ValueError("model_fn should return an EstimatorSpec.")
  return spec


def call_logit_fn(logit_fn, features, mode, params, config):
  """Calls a `logit_fn` with the arguments it takes; checks its result.

  Args:
    logit_fn: Function of (features, mode, params, config), any subset that
      includes `features`, returning logits.
    features: The features.
    mode: A `ModeKeys` value.
    params: Hyperparameters.
    config: The `RunConfig`.

  Returns:
    The logits: a `Tensor` or a dict of string to `Tensor`.

  Raises:
    ValueError: If it returns anything else.
  """
  args = function_args(logit_fn)
  kwargs = {name: value for name, value in
            (("mode", mode), ("params", params), ("config", config))
            if name in args}
  logits = logit_fn(features=features, **kwargs)
  valid_dict = isinstance(logits, dict) and all(
      isinstance(k, str) and isinstance(v, tf.Tensor)
      for k, v in logits.items())
  if not (valid_dict or isinstance(logits, tf.Tensor)):
    raise ValueError("logit_fn should return a Tensor or a dictionary mapping "
                     "strings to Tensors.  logit_fn returned: %s" % logits)
  return logits
