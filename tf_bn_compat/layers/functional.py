"""TF1's functional layer interfaces, made from the layer classes.

Each functional form (`dense(inputs, units, ...)`, `conv2d(...)`, ...)
creates one layer and calls it. `make_functional` builds it from the class:
the parameters in TF1's order, their defaults from the class constructor,
and a docstring assembled from the class's own. Layers with variables get
the `name` as their variable scope and honour `reuse`, as in TF1.
"""

import inspect
import re

_ENTRY = re.compile(r"^(\s*)(\**\w+)( \([^)]*\))?:\s?(.*)$")

_COMMON_DOCS = {
    "inputs": "Tensor input.",
    "reuse": ("Boolean, whether to reuse the weights of a previous layer by "
              "the same name."),
}


def _argument_docs(docstring):
  """Returns {argument: description} from the `Args:` section of a docstring."""
  docs = {}
  lines = inspect.cleandoc(docstring or "").splitlines()
  try:
    start = lines.index("Args:") + 1
  except ValueError:
    return docs
  indent, current = None, None
  for line in lines[start:]:
    if line and not line.startswith(" "):
      break  # The next section.
    match = _ENTRY.match(line)
    if match and (indent is None or len(match.group(1)) == indent):
      indent = len(match.group(1))
      current = match.group(2)
      docs[current] = [match.group(4)]
    elif current is not None and line.strip():
      docs[current].append(line.strip())
  return {name: " ".join(text) for name, text in docs.items()}


def _wrap(name, text, width=76):
  words = text.split()
  lines, line = [], "  %s:" % name
  for word in words:
    if len(line) + 1 + len(word) > width:
      lines.append(line)
      line = "   "
    line += " " + word
  lines.append(line)
  return "\n".join(lines)


def _docstring(summary, parameters, docs):
  missing = [p for p in parameters if p not in docs]
  if missing:
    raise ValueError("No documentation for argument(s) %s." % missing)
  args = "\n".join(_wrap(p, docs[p]) for p in parameters)
  return "%s\n\nArgs:\n%s\n\nReturns:\n  Output tensor.\n" % (summary, args)


def make_functional(layer_class, name, parameters, summary,
                    call_arguments=(), defaults=None, scoped=True):
  """Returns TF1's functional interface to `layer_class`.

  Args:
    layer_class: The layer class.
    name: The function's name (e.g. "conv2d").
    parameters: The function's parameter names after `inputs`, in TF1's
      order. "reuse" and the names in `call_arguments` are not passed to the
      constructor.
    summary: First paragraph of the docstring.
    call_arguments: Names of the arguments passed to the layer's call (e.g.
      "training").
    defaults: Dict of defaults that differ from the constructor's (or of
      arguments it takes through `**kwargs`, which otherwise default to
      None).
    scoped: Whether `name` is also the layer's variable scope and `reuse`
      is honoured (layers with variables).

  Returns:
    The function.
  """
  defaults = dict(defaults or {})
  init = inspect.signature(layer_class.__init__).parameters
  call_defaults = inspect.signature(layer_class.call).parameters

  def default(parameter):
    if parameter in defaults:
      return defaults[parameter]
    if parameter in call_arguments:
      return call_defaults[parameter].default
    return init[parameter].default if parameter in init else None

  signature = inspect.Signature(
      [inspect.Parameter("inputs", inspect.Parameter.POSITIONAL_OR_KEYWORD)] +
      [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                         default=default(p)) for p in parameters])
  docs = dict(_COMMON_DOCS)
  docs.update(_argument_docs(layer_class.call.__doc__))
  for cls in reversed(layer_class.__mro__):  # Subclasses refine their bases.
    docs.update(_argument_docs(cls.__doc__))

  def function(*args, **kwargs):
    try:
      bound = signature.bind(*args, **kwargs)
    except TypeError as error:
      raise TypeError("%s() %s" % (name, error)) from None
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    inputs = arguments.pop("inputs")
    call_kwargs = {k: arguments.pop(k) for k in call_arguments}
    reuse = arguments.pop("reuse", None)
    if scoped:
      arguments.update(_scope=arguments.get("name"), _reuse=reuse)
    return layer_class(**arguments)(inputs, **call_kwargs)

  function.__name__ = function.__qualname__ = name
  function.__module__ = layer_class.__module__
  function.__signature__ = signature
  function.__doc__ = _docstring(summary, ["inputs"] + list(parameters), docs)
  return function


def constructor_parameters(layer_class):
  """The named parameters of `layer_class.__init__` (no self, no **kwargs)."""
  return [p.name for p in inspect.signature(
      layer_class.__init__).parameters.values()
          if p.name != "self" and p.kind != inspect.Parameter.VAR_KEYWORD]
