"""The best evaluation recorded in a model directory's event files.

`BestExporter` resumes after a restart by reading what the evaluations
wrote (by default `eval/*.tfevents.*`): every summary event with scalar
values is one evaluation result, and `compare_fn` picks the best.
"""

import tensorflow as tf


def _event_results(event_file):
  """Yields {tag: value} of the scalar values of each summary event."""
  for event in tf.compat.v1.train.summary_iterator(event_file):
    if not event.HasField("summary"):
      continue
    result = {value.tag: value.simple_value for value in event.summary.value
              if value.HasField("simple_value")}
    if result:
      yield result


def best_eval_result(event_file_pattern, compare_fn):
  """The best evaluation result in the event files matching a pattern.

  Args:
    event_file_pattern: Glob pattern of event files (absolute).
    compare_fn: Function(best_eval_result, current_eval_result) returning
      True when the current one is better.

  Returns:
    The best {tag: value} dict, or None when no event has scalar values.
  """
  if not event_file_pattern:
    return None
  best = None
  for event_file in tf.io.gfile.glob(event_file_pattern):
    for result in _event_results(event_file):
      if best is None or compare_fn(best, result):
        best = result
  return best
