"""`inspect`: the batch normalization groups of a checkpoint, as text.

Besides names, shapes and dtypes, the moving statistics are read: a group
whose `moving_mean` is all 0 and `moving_variance` all 1 still has its
initial values, the sign of a training loop that never ran `UPDATE_OPS`.
"""

import collections

import numpy as np

from tf_bn_compat.ckpt import groups as groups_lib
from tf_bn_compat.ckpt import reader as reader_lib

# prefix: the checkpoint prefix; grouping: groups_lib.Grouping;
# untrained: set of scopes whose moving statistics are still 0 / 1;
# num_variables: number of variables in the checkpoint.
Inspection = collections.namedtuple(
    "Inspection", ["prefix", "grouping", "untrained", "num_variables"])


def _is_untrained(reader, prefix, group):
  mean = reader_lib.read_tensor(reader, prefix,
                                group.members["moving_mean"].key)
  variance = reader_lib.read_tensor(reader, prefix,
                                    group.members["moving_variance"].key)
  return bool(np.all(mean == 0) and np.all(variance == 1))


def inspect_checkpoint(path, verify_data=True):
  """Finds the batch normalization groups of a checkpoint.

  Args:
    path: A checkpoint prefix or a checkpoint directory.
    verify_data: If True, read every tensor of the checkpoint so that a
      truncated or corrupt data file is an error; else only the moving
      statistics of the groups are read.

  Returns:
    An `Inspection`.

  Raises:
    CheckpointError: if the checkpoint is missing or corrupt.
  """
  prefix, reader, variables = reader_lib.read_variables(
      path, verify_data=verify_data)
  grouping = groups_lib.find_groups(variables)
  untrained = {g.scope for g in grouping.groups
               if _is_untrained(reader, prefix, g)}
  return Inspection(prefix, grouping, untrained, len(variables))


def _member_line(member, info):
  return "    %-16s %-9s %s" % (member, info.dtype.name, list(info.shape))


def format_inspection(inspection):
  """The report printed by `inspect`, as a list of lines.

  Args:
    inspection: An `Inspection`.

  Returns:
    List of str.
  """
  grouping = inspection.grouping
  lines = ["checkpoint: %s" % inspection.prefix,
           "batch norm groups: %d" % len(grouping.groups)]
  for group in grouping.groups:
    flags = []
    if group.renorm:
      flags.append("renorm")
    missing = [m for m in groups_lib.OPTIONAL if m not in group.members]
    if missing:
      flags.append("no " + "/".join(missing))
    if group.scope in inspection.untrained:
      flags.append("moving statistics at their initial 0/1: UPDATE_OPS "
                   "never ran?")
    lines.append("  %s%s" % (group.scope or "(top level)",
                             "  [%s]" % "; ".join(flags) if flags else ""))
    lines.extend(_member_line(m, info) for m, info in group.members.items())
    lines.extend("    problem: " + p for p in group.problems)
  if grouping.incomplete:
    lines.append("incomplete batch norm scopes: %d" % len(grouping.incomplete))
    for group in grouping.incomplete:
      lines.append("  %s  [%s]" % (group.scope or "(top level)",
                                   "; ".join(group.problems)))
      lines.extend(_member_line(m, info) for m, info in group.members.items())
  lines.append("other variables: %d (of %d)" % (len(grouping.others),
                                                inspection.num_variables))
  return lines
