"""Where a layer call runs, and what its bookkeeping does there.

TF1's layers serve three contexts, decided once per call:

* GRAPH: a TF1 graph (`tf.Graph().as_default()`, or after
  `tf.compat.v1.disable_eager_execution()`). Ops are built, not run: update
  ops are recorded on the layer and put in `UPDATE_OPS`, losses are tensors
  put in `REGULARIZATION_LOSSES`, and `training=None` reads the graph's
  `keras_learning_phase` placeholder.
* EAGER: ops run as they are made. Updates (the moving statistics'
  assignments) run in place and are not recorded (`layer.updates` is
  empty); there are no collections; weight regularization losses are
  recomputed from the variables' current values each time `losses` is
  read; `training=None` means False.
* FUNCTION: inside a `tf.function` traced from eager code. As EAGER, except
  that losses are symbolic tensors of the function's graph and are also put
  in that graph's own `REGULARIZATION_LOSSES` (never the global graph's);
  the update ops are stateful and run with the function.

A `tf.function` traced inside a TF1 graph is GRAPH: it is part of that
graph's program.
"""

import tensorflow as tf

GRAPH = "graph"
EAGER = "eager"
FUNCTION = "function"


def current():
  """Returns GRAPH, EAGER or FUNCTION for the code running now."""
  if tf.executing_eagerly():
    return EAGER
  if tf.compat.v1.executing_eagerly_outside_functions():
    return FUNCTION
  return GRAPH


def records_updates(mode):
  """Whether update ops are recorded (`updates`, `UPDATE_OPS`), not run."""
  return mode == GRAPH


def has_collections(mode):
  """Whether graph collections exist (in FUNCTION: the function graph's)."""
  return mode != EAGER
