"""Groups a checkpoint's variables into batch normalization layers.

A batch normalization group is a scope holding `moving_mean` and
`moving_variance`; `gamma` and `beta` are optional (`scale=False`,
`center=False`), and `moving_stddev`, `renorm_mean`, `renorm_stddev` mark a
`renorm=True` layer. Optimizer slots (`.../gamma/Adam`) and other names
below a member are not members. A scope with some of these names but not
both moving statistics is reported as incomplete.
"""

import collections

REQUIRED = ("moving_mean", "moving_variance")
OPTIONAL = ("gamma", "beta")
RENORM = ("moving_stddev", "renorm_mean", "renorm_stddev")
MEMBERS = OPTIONAL + REQUIRED + RENORM

# scope: str; members: dict member name -> VariableInfo (in MEMBERS order);
# renorm: bool; problems: list of one-line strings.
Group = collections.namedtuple("Group",
                               ["scope", "members", "renorm", "problems"])
Grouping = collections.namedtuple("Grouping",
                                  ["groups", "incomplete", "others"])


def _split(name):
  scope, _, leaf = name.rpartition("/")
  return scope, leaf


def _problems(members):
  """Inconsistencies inside one group, as one-line strings."""
  problems = []
  shapes = {info.shape for info in members.values()}
  if len(shapes) > 1:
    problems.append("members disagree on shape: " + ", ".join(
        "%s %s" % (m, list(info.shape)) for m, info in members.items()))
  present_renorm = [m for m in RENORM if m in members]
  if present_renorm and len(present_renorm) != len(RENORM):
    problems.append("renorm variables incomplete: has %s, lacks %s" % (
        ", ".join(present_renorm),
        ", ".join(m for m in RENORM if m not in members)))
  return problems


def find_groups(variables):
  """Finds the batch normalization groups among a checkpoint's variables.

  Args:
    variables: Dict mapping variable name to `VariableInfo`.

  Returns:
    `Grouping(groups, incomplete, others)`: `groups` a list of `Group`
    sorted by scope; `incomplete` a list of `Group` for scopes with some
    batch norm member names but not both moving statistics; `others` the
    sorted names of the variables that belong to no group.
  """
  by_scope = collections.defaultdict(dict)
  for name, info in variables.items():
    scope, leaf = _split(name)
    if leaf in MEMBERS:
      by_scope[scope][leaf] = info
  groups, incomplete, grouped = [], [], set()
  for scope in sorted(by_scope):
    found = by_scope[scope]
    members = collections.OrderedDict(
        (m, found[m]) for m in MEMBERS if m in found)
    renorm = any(m in members for m in RENORM)
    if all(m in members for m in REQUIRED):
      groups.append(Group(scope, members, renorm, _problems(members)))
      grouped.update("%s/%s" % (scope, m) if scope else m for m in members)
    elif any(m in members for m in REQUIRED + RENORM):
      # gamma/beta alone are common names (e.g. layer norm): not reported.
      missing = [m for m in REQUIRED if m not in members]
      incomplete.append(Group(scope, members, renorm,
                              ["lacks " + ", ".join(missing)]))
  others = sorted(n for n in variables if n not in grouped)
  return Grouping(groups, incomplete, others)
