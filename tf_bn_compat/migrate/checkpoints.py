"""TF1 checkpoints to and from TF2 objects that run TF1-style code.

A `tf.compat.v1.train.Saver` checkpoint keys each variable by its TF1 name
(`block/dense/kernel`). The variables that `track_tf1_style_variables`
creates keep those names, so the graph model's checkpoint restores into the
TF2 object and the TF2 object saves a checkpoint the graph model's `Saver`
restores.
"""

import tensorflow as tf

from tf_bn_compat.migrate import owners


def tf1_style_variables(obj):
  """Returns `{TF1 name: tf.Variable}` of `obj`'s TF1-style code.

  Args:
    obj: An object with methods decorated by `track_tf1_style_variables`, or
      one tracking such objects (a Keras model, a `tf.train.Checkpoint`).

  Returns:
    A dict, in creation order, of the variables created so far.

  Raises:
    ValueError: if two objects hold different variables of one TF1 name
      (a TF1 graph has one variable per name).
  """
  variables = {}
  for holder in owners.holders_in(obj):
    store = holder.store
    for name in store.names:
      variable = store.variable(name)
      if name in variables and variables[name] is not variable:
        raise ValueError(
            "Two objects hold a TF1-style variable named %r; a TF1 "
            "checkpoint keys variables by name. Give their code distinct "
            "variable scopes." % name)
      variables[name] = variable
  return variables


def _variables_or_raise(obj):
  if not tf.executing_eagerly():
    raise RuntimeError("TF1 checkpoints of TF2 objects are saved and "
                       "restored eagerly, outside tf.function.")
  variables = tf1_style_variables(obj)
  if not variables:
    raise ValueError(
        "%s has no TF1-style variables yet: they are created by the first "
        "call of its decorated method. Call it once (e.g. on one batch) "
        "before saving or restoring." % type(obj).__name__)
  return variables


def save_tf1_checkpoint(obj, save_path, global_step=None):
  """Saves `obj`'s TF1-style variables as `tf.compat.v1.train.Saver` does.

  Args:
    obj: See `tf1_style_variables`.
    save_path: Checkpoint prefix, e.g. "/tmp/model.ckpt".
    global_step: Optional int appended to the prefix ("model.ckpt-100").

  Returns:
    The checkpoint prefix written.

  Raises:
    RuntimeError: inside `tf.function` or a graph.
    ValueError: if `obj` has no TF1-style variables yet.
  """
  saver = tf.compat.v1.train.Saver(var_list=_variables_or_raise(obj))
  return saver.save(None, save_path, global_step=global_step,
                    write_meta_graph=False)


def restore_tf1_checkpoint(obj, save_path):
  """Loads a TF1 (name-keyed) checkpoint into `obj`'s TF1-style variables.

  Each variable takes the checkpoint's value of its TF1 name; other keys of
  the checkpoint (optimizer slots, `global_step`) are left out, as a TF1
  `Saver` over these variables does.

  Args:
    obj: See `tf1_style_variables`.
    save_path: A checkpoint prefix, or a directory with a `checkpoint` file.

  Raises:
    RuntimeError: inside `tf.function` or a graph.
    ValueError: if `obj` has no TF1-style variables yet, or the checkpoint
      lacks some of them or holds them with another shape or dtype.
  """
  variables = _variables_or_raise(obj)
  if tf.io.gfile.isdir(save_path):
    save_path = tf.train.latest_checkpoint(save_path)
  reader = tf.train.load_checkpoint(save_path)
  shapes = reader.get_variable_to_shape_map()
  dtypes = reader.get_variable_to_dtype_map()
  missing = [n for n in variables if n not in shapes]
  if missing:
    raise ValueError("Checkpoint %s lacks the variable(s) %s." %
                     (save_path, ", ".join(missing)))
  for name, variable in variables.items():
    if (tf.TensorShape(shapes[name]) != variable.shape or
        dtypes[name] != variable.dtype.base_dtype):
      raise ValueError(
          "Checkpoint %s holds %s as %s %s; the variable is %s %s." %
          (save_path, name, dtypes[name].name, shapes[name],
           variable.dtype.base_dtype.name, variable.shape.as_list()))
  for name, variable in variables.items():
    variable.assign(reader.get_tensor(name))
