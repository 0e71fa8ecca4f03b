r"""Inspects and diffs TF1 checkpoints' batch normalization variables.

Usage:
  python -m tf_bn_compat.ckpt inspect CKPT [--noverify_data]
  python -m tf_bn_compat.ckpt diff CKPT --graph_fn=module.path:function \
      [--ignore=REGEX] [--noverify_data]

CKPT is a checkpoint prefix (`/dir/model.ckpt-100`) or a directory with a
`checkpoint` state file.

inspect: lists each batch normalization group (a scope with `moving_mean`
  and `moving_variance`; `gamma`/`beta` optional; renorm adds
  `moving_stddev`, `renorm_mean`, `renorm_stddev`) with its members' dtypes
  and shapes, then the number of other variables.
diff: calls the function named by --graph_fn with no arguments inside a new
  default graph (it builds the model there, as a TF1 script does) and
  compares the graph's global variables with the checkpoint: one line per
  missing, unexpected, shape-mismatched or dtype-mismatched variable.

Exit status: 0 success (diff: no difference), 1 diff found differences,
2 unusable input (bad command line, missing or corrupt checkpoint,
--graph_fn that does not import or raises).
"""

import os
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top

FLAGS = flags.FLAGS
flags.DEFINE_string("graph_fn", None,
                    "diff: 'module.path:function' building the model in the "
                    "default graph, called with no arguments.")
flags.DEFINE_string("ignore", None,
                    "diff: regular expression of variable names to leave out "
                    "(full match), e.g. '.*/(Adam|Adam_1)'.")
flags.DEFINE_boolean("verify_data", True,
                     "Read every tensor so that a truncated or corrupt data "
                     "file is reported.")

EXIT_OK, EXIT_DIFFERENCES, EXIT_BAD_INPUT = 0, 1, 2
_COMMANDS = ("inspect", "diff")


def _error(message):
  print("error: " + message, file=sys.stderr)
  return EXIT_BAD_INPUT


def _run(command, path):
  # Imported here so that --help does not import TensorFlow.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tf_bn_compat.ckpt import diff as diff_lib  # pylint: disable=g-import-not-at-top
  from tf_bn_compat.ckpt import inspect as inspect_lib  # pylint: disable=g-import-not-at-top
  tf.get_logger().setLevel("ERROR")
  if command == "inspect":
    report = inspect_lib.inspect_checkpoint(path, FLAGS.verify_data)
    print("\n".join(inspect_lib.format_inspection(report)))
    return EXIT_OK
  if not FLAGS.graph_fn:
    return _error("diff needs --graph_fn=module.path:function")
  if FLAGS.ignore:
    try:
      re.compile(FLAGS.ignore)
    except re.error as e:
      return _error("--ignore=%r is not a regular expression: %s" %
                    (FLAGS.ignore, e))
  result = diff_lib.diff_checkpoint(path, FLAGS.graph_fn, FLAGS.ignore,
                                    FLAGS.verify_data)
  print("\n".join(diff_lib.format_diff(result)))
  return EXIT_DIFFERENCES if diff_lib.has_differences(result) else EXIT_OK


def main(argv):
  """Runs one command; returns the exit status."""
  if len(argv) != 3 or argv[1] not in _COMMANDS:
    return _error("usage: python -m tf_bn_compat.ckpt {inspect,diff} CKPT "
                  "[flags]; got %r (see --help)" % (argv[1:],))
  from tf_bn_compat.ckpt import graph_source  # pylint: disable=g-import-not-at-top
  from tf_bn_compat.ckpt import reader  # pylint: disable=g-import-not-at-top
  try:
    return _run(argv[1], argv[2])
  except (reader.CheckpointError, graph_source.GraphFnError) as e:
    return _error(str(e))


def run():
  """Entry point: parses flags and exits with `main`'s status."""
  app.run(main)


if __name__ == "__main__":
  run()
