"""`WarmStartSettings`: initialize a new model from another's checkpoint."""

import collections
import os

import tensorflow as tf

VocabInfo = tf.compat.v1.train.VocabInfo


class WarmStartSettings(
    collections.namedtuple("WarmStartSettings", [
        "ckpt_to_initialize_from", "vars_to_warm_start",
        "var_name_to_vocab_info", "var_name_to_prev_var_name"
    ])):
  """Which variables to initialize from which checkpoint.

  The fields are the arguments of `tf.compat.v1.train.warm_start`, which
  the Estimator calls after the `model_fn` when there is no checkpoint of
  its own yet.

  Args:
    ckpt_to_initialize_from: A checkpoint file or directory (its latest), or
      a SavedModel directory.
    vars_to_warm_start: A regex of variable names, a list of regexes or of
      variables; None for trainable variables only. Defaults to ".*" (all
      trainable variables; list scopes to include non-trainable ones such as
      the moving statistics of batch normalization).
    var_name_to_vocab_info: Dict of variable name to `VocabInfo`.
    var_name_to_prev_var_name: Dict of variable name to its name in the
      checkpoint.

  Raises:
    ValueError: If `ckpt_to_initialize_from` is empty.
  """

  def __new__(cls,
              ckpt_to_initialize_from,
              vars_to_warm_start=".*",
              var_name_to_vocab_info=None,
              var_name_to_prev_var_name=None):
    if not ckpt_to_initialize_from:
      raise ValueError(
          "`ckpt_to_initialize_from` MUST be set in WarmStartSettings")
    return super(WarmStartSettings, cls).__new__(
        cls, ckpt_to_initialize_from, vars_to_warm_start,
        var_name_to_vocab_info or {}, var_name_to_prev_var_name or {})


def _saved_model_variables(path):
  """The variables checkpoint prefix of a SavedModel directory, or None."""
  prefix = os.path.join(tf.compat.as_text(path), "variables", "variables")
  if tf.io.gfile.exists(prefix + ".index"):
    return prefix
  return None


def settings_from(warm_start_from):
  """The `WarmStartSettings` an Estimator's `warm_start_from` stands for.

  Args:
    warm_start_from: None, a checkpoint or SavedModel path, or settings.

  Returns:
    `WarmStartSettings` or None.

  Raises:
    ValueError: For any other type.
  """
  if warm_start_from is None:
    return None
  if isinstance(warm_start_from, (str, bytes, os.PathLike)):
    path = os.fspath(warm_start_from)
    saved_model = _saved_model_variables(path)
    if saved_model:
      tf.compat.v1.logging.info("Warm-starting from a SavedModel")
      return WarmStartSettings(ckpt_to_initialize_from=saved_model)
    return WarmStartSettings(ckpt_to_initialize_from=tf.compat.as_text(path))
  if isinstance(warm_start_from, WarmStartSettings):
    saved_model = _saved_model_variables(
        warm_start_from.ckpt_to_initialize_from)
    if saved_model:
      return warm_start_from._replace(ckpt_to_initialize_from=saved_model)
    return warm_start_from
  raise ValueError("warm_start_from must be a string or a WarmStartSettings, "
                   "instead got {}".format(type(warm_start_from)))


def warm_start(settings):
  """Runs `tf.compat.v1.train.warm_start` with `settings` (in the graph)."""
  tf.compat.v1.logging.info("Warm-starting with WarmStartSettings: %s",
                            settings)
  tf.compat.v1.train.warm_start(*settings)


def checkpoint_of(settings):
  """The checkpoint file `settings` start from (the latest, for a dir)."""
  path = settings.ckpt_to_initialize_from
  if tf.io.gfile.isdir(path):
    return tf.train.latest_checkpoint(path)
  return path
