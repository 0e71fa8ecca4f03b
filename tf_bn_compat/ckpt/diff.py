"""`diff`: the variables a graph expects against those a checkpoint holds.

The graph's expectation is its global variables (what a default
`tf.compat.v1.train.Saver` saves and restores), named without `:0`;
partitioned variables count once under their full name and shape. Each
difference is one of: missing in the checkpoint, unexpected in the
checkpoint, shape mismatch, dtype mismatch.
"""

import collections
import re

import tensorflow as tf

from tf_bn_compat.ckpt import graph_source
from tf_bn_compat.ckpt import reader as reader_lib

# Lists of names (missing, unexpected) and of (name, graph value, checkpoint
# value) triples (shape_mismatch, dtype_mismatch); matched: number of
# variables that agree.
Diff = collections.namedtuple("Diff", [
    "prefix", "missing", "unexpected", "shape_mismatch", "dtype_mismatch",
    "matched", "graph_variables", "checkpoint_variables"])


def graph_variables(graph):
  """The variables a graph restores, by checkpoint name.

  Args:
    graph: A `tf.Graph`.

  Returns:
    Dict mapping name to `VariableInfo(shape, dtype, key)`; shape is a tuple
    whose entries may be None for a variable of unknown shape.
  """
  result = {}
  with graph.as_default():
    for v in tf.compat.v1.global_variables():
      slice_info = getattr(v, "_save_slice_info", None)
      if slice_info is not None:
        name, shape = slice_info.full_name, tuple(slice_info.full_shape)
      else:
        name = v.op.name if hasattr(v, "op") else v.name.split(":")[0]
        shape = tuple(v.shape.as_list()) if v.shape.rank is not None else None
      result[name] = reader_lib.VariableInfo(shape, v.dtype.base_dtype, name)
  return result


def _shapes_agree(graph_shape, ckpt_shape):
  if graph_shape is None:
    return True
  return tf.TensorShape(graph_shape).is_compatible_with(
      tf.TensorShape(ckpt_shape))


def compare(expected, found, ignore=None):
  """Compares two dicts of `VariableInfo`.

  Args:
    expected: What the graph expects, name -> `VariableInfo`.
    found: What the checkpoint holds, name -> `VariableInfo`.
    ignore: Optional regular expression; names it fully matches are left
      out on both sides (e.g. optimizer slots `.*/Adam(_1)?`).

  Returns:
    (missing, unexpected, shape_mismatch, dtype_mismatch, matched) as in
    `Diff`.
  """
  pattern = re.compile(ignore) if ignore else None

  def keep(names):
    return sorted(n for n in names if not (pattern and pattern.fullmatch(n)))

  missing = keep(set(expected) - set(found))
  unexpected = keep(set(found) - set(expected))
  shape_mismatch, dtype_mismatch, matched = [], [], 0
  for name in keep(set(expected) & set(found)):
    want, have = expected[name], found[name]
    ok = True
    if not _shapes_agree(want.shape, have.shape):
      shape_mismatch.append((name, want.shape, have.shape))
      ok = False
    if want.dtype != have.dtype:
      dtype_mismatch.append((name, want.dtype, have.dtype))
      ok = False
    matched += ok
  return missing, unexpected, shape_mismatch, dtype_mismatch, matched


def diff_checkpoint(path, graph_fn, ignore=None, verify_data=False):
  """Compares a checkpoint with the variables of the graph `graph_fn` builds.

  Args:
    path: A checkpoint prefix or directory.
    graph_fn: A callable building the model in the default graph (no
      arguments), or a "module.path:function" string naming one.
    ignore: Optional regular expression of names to leave out.
    verify_data: Also read every tensor of the checkpoint.

  Returns:
    A `Diff`.

  Raises:
    CheckpointError: if the checkpoint is missing or corrupt.
    GraphFnError: if `graph_fn` cannot be imported or raises.
    re.error: if `ignore` is not a valid regular expression.
  """
  if ignore:
    re.compile(ignore)
  name = "graph_fn"
  if isinstance(graph_fn, str):
    name = graph_fn
    graph_fn = graph_source.load_graph_fn(graph_fn)
  prefix, _, found = reader_lib.read_variables(path, verify_data=verify_data)
  expected = graph_variables(graph_source.build_graph(graph_fn, name))
  return Diff(prefix, *compare(expected, found, ignore), expected, found)


def _shape(shape):
  return "unknown" if shape is None else str(list(shape))


def has_differences(diff):
  """Whether a `Diff` reports any difference."""
  return bool(diff.missing or diff.unexpected or diff.shape_mismatch or
              diff.dtype_mismatch)


def format_diff(diff):
  """The report printed by `diff`, one line per difference.

  Args:
    diff: A `Diff`.

  Returns:
    List of str.
  """
  lines = ["checkpoint: %s" % diff.prefix]
  for name in diff.missing:
    info = diff.graph_variables[name]
    lines.append("missing in checkpoint: %s (graph: %s %s)" %
                 (name, info.dtype.name, _shape(info.shape)))
  for name in diff.unexpected:
    info = diff.checkpoint_variables[name]
    lines.append("unexpected in checkpoint: %s (checkpoint: %s %s)" %
                 (name, info.dtype.name, _shape(info.shape)))
  for name, want, have in diff.shape_mismatch:
    lines.append("shape mismatch: %s: graph %s, checkpoint %s" %
                 (name, _shape(want), _shape(have)))
  for name, want, have in diff.dtype_mismatch:
    lines.append("dtype mismatch: %s: graph %s, checkpoint %s" %
                 (name, want.name, have.name))
  count = (len(diff.missing) + len(diff.unexpected) +
           len(diff.shape_mismatch) + len(diff.dtype_mismatch))
  if count:
    lines.append("%d difference(s); %d variable(s) match" %
                 (count, diff.matched))
  else:
    lines.append("checkpoint matches the graph: %d variable(s)" %
                 diff.matched)
  return lines
