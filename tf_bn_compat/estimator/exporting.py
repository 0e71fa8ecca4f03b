"""`Estimator.export_saved_model`: a SavedModel of the model_fn's graphs.

For each mode asked for (PREDICT for serving; TRAIN and EVAL optionally),
in that order TRAIN, EVAL, PREDICT: call the receiver fn and the model_fn
in a fresh graph, build the SignatureDefs, restore the checkpoint and add
the MetaGraph (the first one with the variables). The SavedModel is
written to `temp-<timestamp>` and renamed to `<timestamp>` when complete.
"""

import os

import tensorflow as tf

from tf_bn_compat.estimator import mode_keys
from tf_bn_compat.estimator import warm_starting
from tf_bn_compat.estimator.export import signatures

_logging = tf.compat.v1.logging
ModeKeys = mode_keys.ModeKeys
# The collection SavedModelBuilder exports a TRAIN graph's train op from.
_TRAIN_OP_KEY = "saved_model_train_op"


def _checkpoint(estimator, checkpoint_path):
  """The checkpoint to export: given, latest, or the warm-start one."""
  if checkpoint_path:
    return checkpoint_path
  latest = estimator.latest_checkpoint()
  if latest:
    return latest
  if estimator.warm_start_settings:
    return warm_starting.checkpoint_of(estimator.warm_start_settings)
  raise ValueError("Couldn't find trained model at {}.".format(
      estimator.model_dir))


def _restore(session, saver, checkpoint_path, mode):
  try:
    saver.restore(session, checkpoint_path)
  except tf.errors.NotFoundError as error:
    raise ValueError(
        "Could not load all requested variables from checkpoint. Please make "
        "sure your model_fn does not expect variables that were not saved in "
        "the checkpoint.\n\nEncountered error with mode `{}` while restoring "
        "checkpoint from: `{}`. Full Traceback:\n\n{}".format(
            mode, checkpoint_path, error)) from error


def _add_meta_graph(estimator, builder, mode, receiver_fn, checkpoint_path,
                    save_variables, strip_default_attrs):
  """Builds `mode`'s graph and adds it to `builder` (with variables if asked)."""
  with tf.Graph().as_default() as graph:
    tf.compat.v1.train.create_global_step(graph)
    tf.compat.v1.random.set_random_seed(estimator.config.tf_random_seed)
    receiver = receiver_fn()
    spec = estimator.call_model_fn(receiver.features,
                                   getattr(receiver, "labels", None), mode,
                                   estimator.config)
    signature_defs = signatures.build_all_signature_defs(
        receiver.receiver_tensors, signatures.export_outputs_for_mode(spec),
        getattr(receiver, "receiver_tensors_alternatives", None),
        serving_only=(mode == ModeKeys.PREDICT))
    with tf.compat.v1.Session(config=estimator.config.session_config) as sess:
      local_init_op = (spec.scaffold.local_init_op or
                       tf.compat.v1.train.Scaffold.default_local_init_op())
      saver = spec.scaffold.saver or tf.compat.v1.train.Saver(sharded=True)
      _restore(sess, saver, checkpoint_path, mode)
      if spec.train_op is not None:
        tf.compat.v1.add_to_collection(_TRAIN_OP_KEY, spec.train_op)
      kwargs = dict(
          tags=signatures.EXPORT_TAGS[mode],
          signature_def_map=signature_defs,
          assets_collection=tf.compat.v1.get_collection(
              tf.compat.v1.GraphKeys.ASSET_FILEPATHS),
          main_op=local_init_op,
          saver=saver,
          strip_default_attrs=strip_default_attrs)
      if save_variables:
        builder.add_meta_graph_and_variables(sess, **kwargs)
      else:
        builder.add_meta_graph(**kwargs)


def _copy_assets_extra(export_dir, assets_extra):
  for relative, source in (assets_extra or {}).items():
    destination = os.path.join(tf.compat.as_bytes(export_dir),
                               tf.compat.as_bytes("assets.extra"),
                               tf.compat.as_bytes(relative))
    tf.io.gfile.makedirs(os.path.dirname(destination))
    tf.io.gfile.copy(source, destination)


def export_all_saved_models(estimator, export_dir_base, input_receiver_fn_map,
                            assets_extra=None, as_text=False,
                            checkpoint_path=None, strip_default_attrs=True):
  """Writes one SavedModel with a MetaGraph per mode of the map.

  Args:
    estimator: The Estimator.
    export_dir_base: Directory the timestamped export goes in.
    input_receiver_fn_map: Dict of `ModeKeys` value to receiver fn
      (a serving one for PREDICT, a supervised one for TRAIN/EVAL).
    assets_extra: Dict of destination (under `assets.extra/`) to source.
    as_text: Whether to write `saved_model.pbtxt`.
    checkpoint_path: Checkpoint to export (default: the latest).
    strip_default_attrs: Whether default-valued attributes are left out.

  Returns:
    The export directory (bytes).

  Raises:
    ValueError: If there is no checkpoint, no mode to export, or a variable
      is missing from the checkpoint.
  """
  checkpoint_path = _checkpoint(estimator, checkpoint_path)
  export_dir = signatures.timestamped_export_dir(export_dir_base)
  temp_dir = signatures.temp_export_dir(export_dir)
  builder = tf.compat.v1.saved_model.Builder(temp_dir)
  save_variables = True
  for mode in (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT):
    receiver_fn = input_receiver_fn_map.get(mode)
    if receiver_fn:
      _add_meta_graph(estimator, builder, mode, receiver_fn, checkpoint_path,
                      save_variables, strip_default_attrs)
      save_variables = False
  if save_variables:
    raise ValueError("No valid modes for exporting found. Got {}.".format(
        input_receiver_fn_map.keys()))
  builder.save(as_text)
  _copy_assets_extra(temp_dir, assets_extra)
  tf.io.gfile.rename(temp_dir, export_dir)
  return export_dir


def rewrite_for_serving(export_dir):
  """Makes an exported SavedModel's serving graph stock TensorFlow only.

  A model_fn with the fused batch norm of `tf_bn_compat.layers` puts this
  package's op in the graph, which a serving binary without the package
  does not know. In inference it is exactly `FusedBatchNormV3`: this
  rewrites, in place, every MetaGraph tagged "serve" with
  `tf_bn_compat.export.rewrite_for_serving`. The variables are untouched.

  Args:
    export_dir: A directory `export_saved_model` returned.

  Returns:
    `export_dir`.

  Raises:
    ValueError: If a serving graph uses the op in a way `FusedBatchNormV3`
      cannot (e.g. it holds gradients: export with `training=False`).
  """
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top
  from tf_bn_compat import export as serving  # pylint: disable=g-import-not-at-top
  path = os.path.join(tf.compat.as_bytes(export_dir), b"saved_model.pb")
  saved_model = saved_model_pb2.SavedModel()
  saved_model.ParseFromString(tf.io.gfile.GFile(path, "rb").read())
  for meta_graph in saved_model.meta_graphs:
    if tf.compat.v1.saved_model.SERVING not in meta_graph.meta_info_def.tags:
      continue
    meta_graph.graph_def.CopyFrom(
        serving.rewrite_for_serving(meta_graph.graph_def))
    # The op list records the ops the graph uses (for their default attrs).
    ops = meta_graph.meta_info_def.stripped_op_list.op
    kept = [op for op in ops if not op.name.startswith(serving.OUR_OP_PREFIX)]
    del ops[:]
    ops.extend(kept)
  with tf.io.gfile.GFile(path, "wb") as f:
    f.write(saved_model.SerializeToString())
  return export_dir


def export_saved_model(estimator, export_dir_base, serving_input_receiver_fn,
                       assets_extra=None, as_text=False, checkpoint_path=None,
                       experimental_mode=ModeKeys.PREDICT):
  """Exports one mode; see `Estimator.export_saved_model`."""
  if not serving_input_receiver_fn and experimental_mode == ModeKeys.PREDICT:
    raise ValueError("An input_receiver_fn must be defined.")
  return export_all_saved_models(
      estimator, export_dir_base,
      {experimental_mode: serving_input_receiver_fn},
      assets_extra=assets_extra, as_text=as_text,
      checkpoint_path=checkpoint_path, strip_default_attrs=True)
