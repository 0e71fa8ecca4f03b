"""Builds the graph named by `--graph_fn=module.path:function`.

Convention: the function takes no arguments and builds the model in the
current default graph (as a TF1 `model_fn` body or a graph-building script
does); its return value is ignored. It is called inside a fresh `tf.Graph`,
and the graph's global variables are what the graph expects to restore.
"""

import importlib
import sys

import tensorflow as tf


class GraphFnError(Exception):
  """`--graph_fn` cannot be imported or raised; the message is one line."""


def _first_line(error):
  text = str(error).strip()
  return "%s: %s" % (type(error).__name__,
                     text.splitlines()[0] if text else "(no message)")


def load_graph_fn(spec):
  """Imports the function named by "module.path:function".

  The current directory is searched first, as `python -m` does.

  Args:
    spec: "module.path:function" (the function may be "Class.method").

  Returns:
    The callable.

  Raises:
    GraphFnError: if `spec` is malformed, the module does not import or has
      no such callable.
  """
  module_name, sep, attr_path = (spec or "").partition(":")
  if not sep or not module_name or not attr_path:
    raise GraphFnError("--graph_fn must be 'module.path:function', got %r" %
                       spec)
  if "" not in sys.path:
    sys.path.insert(0, "")
  try:
    target = importlib.import_module(module_name)
  except Exception as e:  # pylint: disable=broad-except
    raise GraphFnError("--graph_fn=%s: cannot import %s (%s)" %
                       (spec, module_name, _first_line(e))) from None
  for attr in attr_path.split("."):
    if not hasattr(target, attr):
      raise GraphFnError("--graph_fn=%s: %s has no attribute %r" %
                         (spec, module_name, attr))
    target = getattr(target, attr)
  if not callable(target):
    raise GraphFnError("--graph_fn=%s: %r is not callable" % (spec, target))
  return target


def build_graph(graph_fn, name="graph_fn"):
  """Calls `graph_fn()` inside a new graph.

  Args:
    graph_fn: Callable taking no arguments that builds the model in the
      default graph.
    name: How to name the function in error messages.

  Returns:
    The `tf.Graph`.

  Raises:
    GraphFnError: if `graph_fn` raises.
  """
  graph = tf.Graph()
  with graph.as_default():
    try:
      graph_fn()
    except Exception as e:  # pylint: disable=broad-except
      raise GraphFnError("%s raised while building the graph: %s" %
                         (name, _first_line(e))) from None
  return graph
