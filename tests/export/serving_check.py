"""Loads exported serving graphs with stock TensorFlow only; run in a child.

Usage: python -I serving_check.py SAVED_MODEL_DIR FROZEN_PB INPUTS_NPZ OUT_NPZ

FROZEN_PB "-": a SavedModel only. An optional fifth argument "tf2" loads the
SavedModel with `tf.saved_model.load` instead of TF1's loader in a Session
(which cannot restore a Keras 3 model's non-trainable variables, with or
without this package).

Never imports tf_bn_compat nor loads its op library: it checks both at the
end and exits 3 if either happened.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top


def _op_types(graph_def):
  ops = {n.op for n in graph_def.node}
  for function in graph_def.library.function:
    ops.update(n.op for n in function.node_def)
  return sorted(ops)


def _serve_tf2(saved_model_dir, x, results):
  serve = tf.saved_model.load(saved_model_dir).signatures["serving_default"]
  results["saved_model"] = serve(images=tf.constant(x))["logits"].numpy()
  results["saved_model_ops"] = np.array(_op_types(
      serve.graph.as_graph_def()))


def main(saved_model_dir, frozen_pb, inputs_npz, out_npz, loader="v1"):
  x = np.load(inputs_npz)["x"]
  results = {}
  if loader == "tf2":
    _serve_tf2(saved_model_dir, x, results)
    return _save(results, out_npz)
  with tf.Graph().as_default() as graph:
    with tf.compat.v1.Session() as sess:
      meta = tf.compat.v1.saved_model.loader.load(
          sess, [tf.saved_model.SERVING], saved_model_dir)
      signature = meta.signature_def["serving_default"]
      results["saved_model"] = sess.run(
          signature.outputs["logits"].name,
          {signature.inputs["images"].name: x})
      results["saved_model_ops"] = np.array(_op_types(graph.as_graph_def()))
  if frozen_pb == "-":
    return _save(results, out_npz)
  graph_def = tf.compat.v1.GraphDef()
  with open(frozen_pb, "rb") as f:
    graph_def.ParseFromString(f.read())
  with tf.Graph().as_default() as graph:
    tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session() as sess:
      results["frozen"] = sess.run("logits:0", {"images:0": x})
  results["frozen_ops"] = np.array(_op_types(graph_def))
  return _save(results, out_npz)


def _save(results, out_npz):
  np.savez(out_npz, **results)
  with open("/proc/self/maps") as f:
    library_loaded = "_tf_bn_compat_ops" in f.read()
  if "tf_bn_compat" in sys.modules or library_loaded:
    print("tf_bn_compat was imported or its library loaded", file=sys.stderr)
    return 3
  return 0


if __name__ == "__main__":
  sys.exit(main(*sys.argv[1:]))
