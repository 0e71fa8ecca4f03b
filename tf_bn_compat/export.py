"""Serving graphs that run without this package: only stock TensorFlow ops.

The layers' graphs hold TensorFlow's own `FusedBatchNormV3` and serve as
they are. Graphs built by earlier versions of this package hold nodes of
type `TfBnCompat>FusedBatchNorm`, which a serving binary (TF Serving,
another Python without `tf_bn_compat`) does not know; this module rewrites
them. For inference that op is exactly TensorFlow's `FusedBatchNormV3`: same
inputs (x, scale, offset, mean, variance), same attributes (T, U, epsilon,
exponential_avg_factor, data_format, is_training) and the same first three
outputs (y, batch_mean, batch_variance). Only outputs 3 and 4 differ (ours:
saved mean and inverse standard deviation for the gradient; TF's: device-
specific reserve spaces, plus a sixth), so the rewrite is refused when
anything reads them.

The approach is a GraphDef rewrite of an inference graph:

* `rewrite_for_serving(graph_def)` changes each of our op nodes into a
  `FusedBatchNormV3` node in place (inputs and attributes kept), in the
  graph and in its function library (v2 control flow puts `tf.cond`
  branches there);
* `freeze_for_serving(sess, output_names)` extracts the subgraph computing
  `output_names`, turns variables into constants
  (`convert_variables_to_constants`) and rewrites it;
* `export_saved_model(...)` writes a SavedModel of that frozen graph with a
  signature. Its weights are constants: the SavedModel has no variables,
  which serving does not need, and nothing of the training graph (whose
  gradient op has no stock equivalent reading our saved statistics).

Build the serving outputs with `training=False` (a Python False); a
`training` tensor keeps the training branch, whose moving-average updates
read outputs 1 and 2 only, but the gradient op, if included, is refused.
"""

import copy

import tensorflow as tf

OUR_OP_PREFIX = "TfBnCompat>"
OUR_FUSED_OP = "TfBnCompat>FusedBatchNorm"
STOCK_FUSED_OP = "FusedBatchNormV3"
# Outputs that agree between our op and FusedBatchNormV3, by index and name.
_SHARED_OUTPUTS = (0, 1, 2)
_SHARED_OUTPUT_NAMES = ("y", "batch_mean", "batch_variance")
_ATTRS = ("T", "U", "epsilon", "exponential_avg_factor", "data_format",
          "is_training")


def _graph_consumers(nodes, name):
  """(consumer node name, output index) pairs reading outputs of `name`."""
  found = []
  for node in nodes:
    for inp in node.input:
      if inp.startswith("^"):
        continue
      source, _, index = inp.partition(":")
      if source == name:
        found.append((node.name, int(index) if index else 0))
  return found


def _function_consumers(nodes, name):
  """(consumer, output arg name) pairs in a FunctionDef ("node:arg:index")."""
  found = []
  for node in nodes:
    for inp in node.input:
      parts = inp.split(":")
      if not inp.startswith("^") and parts[0] == name and len(parts) > 1:
        found.append((node.name, parts[1]))
  return found


def _check_attrs(node, where):
  unknown = set(node.attr) - set(_ATTRS) - {"_output_shapes", "_class"}
  unknown = {a for a in unknown if not a.startswith("_")}
  if unknown:
    raise ValueError("%s: node %r has attributes %s that %s lacks; cannot "
                     "rewrite it." % (where, node.name, sorted(unknown),
                                      STOCK_FUSED_OP))


def _rewrite_node(node, where):
  _check_attrs(node, where)
  node.op = STOCK_FUSED_OP
  # Our op has 5 outputs, FusedBatchNormV3 6: recorded shapes would be stale.
  if "_output_shapes" in node.attr:
    del node.attr["_output_shapes"]


def _rewrite_nodes(nodes, where, in_function):
  """Rewrites our fused nodes of one node list; returns how many."""
  count = 0
  for node in nodes:
    if node.op != OUR_FUSED_OP:
      continue
    if in_function:
      bad = [(c, arg) for c, arg in _function_consumers(nodes, node.name)
             if arg not in _SHARED_OUTPUT_NAMES]
    else:
      bad = [(c, i) for c, i in _graph_consumers(nodes, node.name)
             if i not in _SHARED_OUTPUTS]
    if bad:
      raise ValueError(
          "%s: node %r (%s) has outputs read by %s; only outputs 0-2 (y, "
          "batch_mean, batch_variance) have the same meaning in %s. Export "
          "an inference graph (training=False) without gradients." %
          (where, node.name, OUR_FUSED_OP,
           ", ".join("%s (output %s)" % b for b in bad), STOCK_FUSED_OP))
    _rewrite_node(node, where)
    count += 1
  return count


def _remaining_ops(graph_def):
  ops = {n.op for n in graph_def.node}
  for function in graph_def.library.function:
    ops.update(n.op for n in function.node_def)
  return sorted(op for op in ops if op.startswith(OUR_OP_PREFIX))


def rewrite_for_serving(graph_def):
  """Replaces our fused batch norm nodes by stock `FusedBatchNormV3` nodes.

  Node names, inputs and attributes are kept, so tensor names (`bn/y:0`
  style references, signatures) stay valid. Nodes inside the function
  library are rewritten too.

  Args:
    graph_def: A `tf.compat.v1.GraphDef`; not modified.

  Returns:
    A new `GraphDef` with no op of type `TfBnCompat>...`.

  Raises:
    ValueError: if a node reads output 3 or 4 of one of our fused nodes
      (their meaning differs from FusedBatchNormV3's), or another op of this
      package (e.g. the gradient op of a training graph) remains.
  """
  result = copy.deepcopy(graph_def)
  _rewrite_nodes(result.node, "graph", in_function=False)
  for function in result.library.function:
    _rewrite_nodes(function.node_def,
                   "function %r" % function.signature.name, in_function=True)
  remaining = _remaining_ops(result)
  if remaining:
    raise ValueError(
        "The graph still has op(s) %s of tf_bn_compat with no stock "
        "equivalent; a serving graph must compute its outputs without them "
        "(export with training=False, without gradients)." % remaining)
  return result


def _node_name(name):
  name = getattr(name, "name", name)
  return name[1:] if name.startswith("^") else name.split(":")[0]


def freeze_for_serving(sess, output_names):
  """A frozen `GraphDef` computing `output_names` with stock ops only.

  The subgraph that computes the outputs is extracted, variables become
  constants with their values in `sess`, then `rewrite_for_serving` turns
  our fused nodes into `FusedBatchNormV3`.

  Args:
    sess: A `tf.compat.v1.Session` whose variables hold the trained values.
    output_names: List of node names, tensor names ("head/y:0") or tensors.

  Returns:
    A `GraphDef`.

  Raises:
    ValueError: if `output_names` is empty or names a missing node, or as
      `rewrite_for_serving`.
  """
  nodes = [_node_name(n) for n in output_names]
  if not nodes:
    raise ValueError("freeze_for_serving needs at least one output name.")
  graph_def = sess.graph.as_graph_def()
  present = {n.name for n in graph_def.node}
  missing = [n for n in nodes if n not in present]
  if missing:
    raise ValueError("freeze_for_serving: no node named %s in the session's "
                     "graph." % ", ".join(repr(n) for n in missing))
  frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
      sess, graph_def, nodes)
  return rewrite_for_serving(frozen)


def _tensor_map(graph, tensors, what):
  result = {}
  for key, tensor in tensors.items():
    name = getattr(tensor, "name", tensor)
    try:
      result[key] = graph.get_tensor_by_name(name)
    except (KeyError, ValueError) as e:
      raise ValueError("export_saved_model: %s %r names no tensor of the "
                       "frozen graph (%s)." % (what, key, e)) from None
  return result


def export_saved_model(sess, export_dir, inputs, outputs,
                       tags=(tf.saved_model.SERVING,),
                       signature_key=(
                           tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY)):
  """Writes a SavedModel of the frozen inference graph, stock ops only.

  The graph computing `outputs` is frozen with `freeze_for_serving`,
  imported (names unchanged) into a new graph, and saved with
  `tf.compat.v1.saved_model.Builder` under `tags` with one predict
  signature. The SavedModel has no variables (weights are constants).

  Args:
    sess: A `tf.compat.v1.Session` holding the trained variables.
    export_dir: Directory to create; must not exist.
    inputs: Dict of signature input key to a tensor (or tensor name) of
      `sess.graph`, e.g. placeholders.
    outputs: Dict of signature output key to a tensor (or tensor name).
    tags: MetaGraph tags.
    signature_key: Key of the signature.

  Returns:
    `export_dir`.

  Raises:
    ValueError: as `freeze_for_serving`, or if an input is not part of the
      frozen graph.
    AssertionError: (from the Builder) if `export_dir` exists.
  """
  frozen = freeze_for_serving(sess, list(outputs.values()))
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.import_graph_def(frozen, name="")
    signature = tf.compat.v1.saved_model.predict_signature_def(
        inputs=_tensor_map(graph, inputs, "input"),
        outputs=_tensor_map(graph, outputs, "output"))
    builder = tf.compat.v1.saved_model.Builder(export_dir)
    with tf.compat.v1.Session(graph=graph) as export_sess:
      builder.add_meta_graph_and_variables(
          export_sess, list(tags),
          signature_def_map={signature_key: signature},
          strip_default_attrs=True)
    builder.save()
  return export_dir
