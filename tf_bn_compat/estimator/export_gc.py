"""Garbage collection of timestamped exports: keep the newest N.

An exporter writes each SavedModel to `<export_path>/<timestamp>/`, the
timestamp being 10 decimal digits (seconds since the epoch). Only entries
named that way count as exports; anything else in the directory (the
`temp-<timestamp>` of an export in progress, user files) is left alone.
"""

import os

import tensorflow as tf

_logging = tf.compat.v1.logging
_VERSION_DIGITS = 10


def export_versions(export_dir_base):
  """The exports under `export_dir_base`, as sorted (version, path) pairs.

  Args:
    export_dir_base: Directory holding `<timestamp>/` exports.

  Returns:
    List of (int version, str path), oldest first; empty if the directory
    does not exist.
  """
  if not tf.io.gfile.isdir(export_dir_base):
    return []
  versions = []
  for entry in tf.io.gfile.listdir(export_dir_base):
    name = tf.compat.as_str_any(entry).rstrip("/")
    if len(name) == _VERSION_DIGITS and name.isdigit():
      versions.append((int(name), os.path.join(
          tf.compat.as_str_any(export_dir_base), name)))
  return sorted(versions)


def stale_exports(export_dir_base, exports_to_keep):
  """The paths of all but the `exports_to_keep` newest exports."""
  versions = export_versions(export_dir_base)
  return [path for _, path in versions[:max(len(versions) -
                                            exports_to_keep, 0)]]


def delete_stale_exports(export_dir_base, exports_to_keep):
  """Deletes all but the `exports_to_keep` newest exports.

  Args:
    export_dir_base: Directory holding `<timestamp>/` exports.
    exports_to_keep: How many to keep; None keeps all.
  """
  if exports_to_keep is None:
    return
  for path in stale_exports(export_dir_base, exports_to_keep):
    try:
      tf.io.gfile.rmtree(path)
    except tf.errors.NotFoundError as e:
      _logging.warning("Can not delete %s recursively: %s", path, e)
