"""`patch_tf` / `unpatch_tf`: `tf.compat.v1.layers` resolves to this package.

TensorFlow keeps its `compat.v1` namespace in several module objects:
`tensorflow._api.v2.compat.v1` (what `tf.compat.v1` is after
`import tensorflow`), a second copy made by `import tensorflow.compat.v1`,
`tf.compat.v1.compat.v1`, `tf.compat.v2.compat.v1`, and `layers` submodules
(`tensorflow.compat.v1.layers`, `tensorflow._api.v2.compat.v1.layers`). On
Keras 3 each `layers` attribute is a lazy loader that raises "not available
with Keras 3". The patch

* points the `layers` attribute of every loaded `compat.v1` module, and the
  `sys.modules` entries of every `compat.v1.layers` module, at one module of
  this package's layers (TF's public names exactly);
* writes those names into the replaced objects too, so that a reference
  taken before the patch (`from tensorflow.compat.v1 import layers`) works;
* stays in `sys.meta_path` until `unpatch_tf()`, so that `compat.v1`
  modules TensorFlow creates later (a first `import tensorflow.compat.v1`,
  `import tensorflow.compat.v1.layers`) are patched as they load.

`tf.compat.v1.keras.layers.BatchNormalization` becomes the Keras-v1 class
`tf_bn_compat.keras.layers.BatchNormalization`. On Keras 3,
`tf.compat.v1.keras.layers` is the very module object `tf.keras.layers` is,
so it is never written to: the `keras` attribute of each `compat.v1` module
(and the `sys.modules` entries `*compat.v1.keras`, `*compat.v1.keras.layers`)
point at a module of this package whose `layers` holds our
`BatchNormalization` and forwards every other name to Keras' own modules,
which are imported only when such a name is read. A `keras.layers` object
reached before the patch is written to only where it is a v1-only module
(Keras 2's `keras.api._v1.keras.layers`, TF 2.15), never Keras 3's.

`tf.compat.v1.keras.utils.track_tf1_style_variables`, gone with Keras 3,
is `tf_bn_compat.track_tf1_style_variables` where Keras has none; the
other names of `tf.compat.v1.keras.utils` stay Keras'.

`tf.estimator` and `tf.compat.v1.estimator`, gone in TF 2.16, are
`tf_bn_compat.estimator` where TensorFlow has none (TF 2.15 keeps its own):
the `estimator` attribute of `tensorflow` and of every `compat.v1`/`compat.v2`
module, and the `sys.modules` entries `tensorflow.estimator`,
`*compat.v1.estimator` (and their `export`, `inputs`, `experimental`
submodules), so that
`import tensorflow.compat.v1.estimator` and `from tensorflow.compat.v1 import
estimator` work too.

`tf.keras` and Keras 3 are not touched: Keras 3 layers keep working beside
TF1 layers in the same process.
"""

import importlib
import importlib.abc
import importlib.machinery
import re
import sys
import types

from tf_bn_compat import layers as _layers
from tf_bn_compat.keras import layers as _keras_layers

_MISSING = object()
_PARENT_SUFFIX = "compat.v1"
_V2_PARENT_SUFFIX = "compat.v2"
_LAYERS_SUFFIX = "compat.v1.layers"
_EXPERIMENTAL_SUFFIX = "compat.v1.layers.experimental"
_KERAS_SUFFIX = "compat.v1.keras"
_KERAS_LAYERS_SUFFIX = "compat.v1.keras.layers"
_KERAS_UTILS_SUFFIX = "compat.v1.keras.utils"


def _make_layers_module():
  experimental = types.ModuleType(
      "tensorflow.compat.v1.layers.experimental",
      "Keras-style variable management (tf_bn_compat).")
  experimental.keras_style_scope = _layers.experimental.keras_style_scope
  experimental.set_keras_style = _layers.experimental.set_keras_style
  module = types.ModuleType(
      "tensorflow.compat.v1.layers",
      "TF1's layers, from tf_bn_compat (see tf_bn_compat.patch_tf).")
  for name in _layers.TF_PUBLIC_NAMES:
    setattr(module, name, getattr(_layers, name))
  module.experimental = experimental
  module.__path__ = []  # A package, so that `.experimental` imports.
  module.__all__ = sorted(_layers.TF_PUBLIC_NAMES)
  return module


LAYERS_MODULE = _make_layers_module()


def _keras_target(original):
  """The Keras module a `compat.v1.keras` object stands for, imported.

  TF's lazy loader is not asked to load itself: its load would rebind the
  `keras` attribute of the module that holds it, undoing the patch.
  """
  names = vars(original)
  if "_tfll_parent_module_globals" not in names:
    return original
  if names.get("_tfll_initialized") is False:
    original._initialize()  # pylint: disable=protected-access
  return importlib.import_module(vars(original)["__name__"])


class _ForwardingModule(types.ModuleType):
  """A module with names of its own; every other name is read from `target`.

  Args:
    name: The module's `__name__`.
    doc: Its docstring.
    target: Function returning the module other names come from.
    fallbacks: Optional dict of name to a function returning a value, for
      names the target lacks.
  """

  def __init__(self, name, doc, target, fallbacks=None):
    super().__init__(name, doc)
    vars(self)["_tf_bn_compat_target"] = target
    vars(self)["_tf_bn_compat_fallbacks"] = dict(fallbacks or {})

  def __getattr__(self, name):
    if name.startswith("__") and name.endswith("__"):
      raise AttributeError(name)
    try:
      return getattr(vars(self)["_tf_bn_compat_target"](), name)
    except AttributeError:
      fallback = vars(self)["_tf_bn_compat_fallbacks"].get(name)
      if fallback is None:
        raise
      return fallback()

  def __dir__(self):
    names = set(vars(self)) | set(vars(self)["_tf_bn_compat_fallbacks"])
    return sorted(names | set(dir(vars(self)["_tf_bn_compat_target"]())))


def _original_keras():
  if _State.keras_original is None:
    raise AttributeError("tf_bn_compat found no `tf.compat.v1.keras` to "
                         "forward to.")
  return _keras_target(_State.keras_original)


def _make_keras_modules():
  layers = _ForwardingModule(
      "tensorflow.compat.v1.keras.layers",
      "Keras' layers, with the Keras-v1 BatchNormalization of tf_bn_compat "
      "(see tf_bn_compat.patch_tf).", lambda: _original_keras().layers)
  for name in _keras_layers.TF_PUBLIC_NAMES:
    setattr(layers, name, getattr(_keras_layers, name))
  keras = _ForwardingModule(
      "tensorflow.compat.v1.keras",
      "Keras, with tf_bn_compat's Keras-v1 layers in `layers` (see "
      "tf_bn_compat.patch_tf).", _original_keras)
  utils = _ForwardingModule(
      "tensorflow.compat.v1.keras.utils",
      "Keras' utils, with tf_bn_compat's track_tf1_style_variables where "
      "Keras has none (see tf_bn_compat.patch_tf).",
      lambda: _original_keras().utils,
      fallbacks={"track_tf1_style_variables": _track_tf1_style_variables})
  keras.layers = layers
  keras.utils = utils
  keras.__path__ = []  # A package, so that `.layers` and `.utils` import.
  return keras


def _track_tf1_style_variables():
  from tf_bn_compat import migrate  # pylint: disable=g-import-not-at-top
  return migrate.track_tf1_style_variables


KERAS_MODULE = _make_keras_modules()


class _Attributes(object):
  """Sets and restores attributes without triggering TF's lazy loading.

  TF's module wrappers are written through `setattr` (which keeps their
  caches right); anything else, lazy loaders included (whose `setattr`
  would import the module they stand for), through its `__dict__`.
  """

  def __init__(self):
    self._saved = []

  @staticmethod
  def _namespace(obj):
    wrapped = vars(obj).get("_tfmw_wrapped_module")
    return vars(wrapped) if wrapped is not None else vars(obj)

  def set(self, obj, name, value):
    namespace = self._namespace(obj)
    old = namespace.get(name, _MISSING)
    if old is value:
      return
    self._saved.append((obj, name, old))
    self._write(obj, name, value)

  @staticmethod
  def _write(obj, name, value):
    wrapper = "_tfmw_wrapped_module" in vars(obj)
    if value is _MISSING:
      if wrapper:
        delattr(obj, name)
      else:
        vars(obj).pop(name, None)
    elif wrapper:
      setattr(obj, name, value)
    else:
      vars(obj)[name] = value

  def restore(self):
    while self._saved:
      obj, name, old = self._saved.pop()
      self._write(obj, name, old)


class _ModulesEntries(object):
  """Sets and restores `sys.modules` entries."""

  def __init__(self):
    self._saved = []

  def set(self, key, module):
    old = sys.modules.get(key, _MISSING)
    if old is module:
      return
    self._saved.append((key, old))
    sys.modules[key] = module

  def restore(self):
    while self._saved:
      key, old = self._saved.pop()
      if old is _MISSING:
        sys.modules.pop(key, None)
      else:
        sys.modules[key] = old


class _State(object):
  active = False
  attributes = _Attributes()
  modules = _ModulesEntries()
  finder = None
  keras_original = None
  estimator_native = None  # Decided on the first use, TF being loaded.


def _is_tf(name):
  return name == "tensorflow" or name.startswith("tensorflow.")


def _replace_layers_object(original):
  """Writes our names into a `layers` object that references may still hold."""
  if original is _MISSING or original is LAYERS_MODULE or not isinstance(
      original, types.ModuleType):
    return
  for name in LAYERS_MODULE.__all__:
    _State.attributes.set(original, name, getattr(LAYERS_MODULE, name))


def _patch_parent(module):
  """Points a `compat.v1` module's `layers` and `keras` at our modules."""
  namespace = _Attributes._namespace(module)  # pylint: disable=protected-access
  original = namespace.get("layers", _MISSING)
  _replace_layers_object(original)
  _State.attributes.set(module, "layers", LAYERS_MODULE)
  keras = namespace.get("keras", _MISSING)
  if keras is not _MISSING and keras is not KERAS_MODULE:
    _remember_keras(keras)
    _State.attributes.set(module, "keras", KERAS_MODULE)


def _remember_keras(original):
  if _State.keras_original is None and isinstance(original, types.ModuleType):
    _State.keras_original = original


def _replace_keras_layers_object(original):
  """Writes our names into a v1-only Keras `layers` module (Keras 2)."""
  if not isinstance(original, types.ModuleType) or (
      original is KERAS_MODULE.layers):
    return
  if "._v1." not in vars(original).get("__name__", ""):
    return  # Keras 3's `tf.keras.layers` itself: never written to.
  for name in _keras_layers.TF_PUBLIC_NAMES:
    _State.attributes.set(original, name, getattr(_keras_layers, name))


def _patch_module_entry(key, module):
  if key.endswith(_KERAS_UTILS_SUFFIX):
    _State.modules.set(key, KERAS_MODULE.utils)
  elif key.endswith(_KERAS_LAYERS_SUFFIX):
    _replace_keras_layers_object(module)
    _State.modules.set(key, KERAS_MODULE.layers)
  elif key.endswith(_KERAS_SUFFIX):
    if module is not KERAS_MODULE:
      _remember_keras(module)
      _replace_keras_layers_object(vars(module).get("layers"))
    _State.modules.set(key, KERAS_MODULE)
  elif key.endswith(_LAYERS_SUFFIX):
    _replace_layers_object(module)
    _State.modules.set(key, LAYERS_MODULE)
  elif key.endswith(_EXPERIMENTAL_SUFFIX):
    _State.modules.set(key, LAYERS_MODULE.experimental)
  elif key.endswith(_PARENT_SUFFIX):
    _patch_parent(module)


def _patch_loaded_modules():
  for key, module in list(sys.modules.items()):
    if _is_tf(key) and module is not None:
      _patch_module_entry(key, module)
  for key, module in list(sys.modules.items()):
    # Keras 2's v1 layers (TF 2.15), which `from tensorflow.compat.v1.keras
    # import layers` may have bound before the patch.
    if key.endswith("._v1.keras.layers") and module is not None:
      _replace_keras_layers_object(module)
  _patch_estimator_entries()


# `tensorflow`, `tensorflow.compat.v1`, `tensorflow._api.v2.compat.v2`, ...
_API_ROOT = r"tensorflow(?:\._api\.v2|\.compat\.v[12])*"
_ESTIMATOR_PARENT = re.compile(r"^%s$" % _API_ROOT)
_ESTIMATOR_ENTRY = re.compile(
    r"^%s\.estimator(?:\.(export|inputs|experimental))?$" % _API_ROOT)


def _estimator_modules():
  """{None: tf_bn_compat.estimator, "export": ..., "inputs": ..., ...}."""
  from tf_bn_compat import estimator  # pylint: disable=g-import-not-at-top
  return {None: estimator, "export": estimator.export,
          "inputs": estimator.inputs, "experimental": estimator.experimental}


def _tf_has_estimator():
  """Whether TensorFlow has an `estimator` of its own (TF <= 2.15)."""
  if _State.estimator_native is None:
    tf = sys.modules.get("tensorflow")
    names = _Attributes._namespace(tf) if tf is not None else {}  # pylint: disable=protected-access
    _State.estimator_native = "estimator" in names and (
        names["estimator"] is not _estimator_modules()[None])
  return _State.estimator_native


def _estimator_entry(fullname):
  """Our module for an estimator module name of TensorFlow's, else None."""
  match = _ESTIMATOR_ENTRY.match(fullname)
  if match is None or _tf_has_estimator():
    return None
  return _estimator_modules()[match.group(1)]


def _install_estimator(key, module):
  """Points an API module's `estimator` (or an estimator entry) at ours."""
  if _tf_has_estimator():
    return
  if _ESTIMATOR_PARENT.match(key) and key != "tensorflow._api.v2":
    _State.attributes.set(module, "estimator", _estimator_modules()[None])
  entry = _estimator_entry(key)
  if entry is not None:
    _State.modules.set(key, entry)


def _remove_estimator_entries():
  """Drops the entries the import system made for ours under TF's names."""
  if _State.estimator_native is False:
    ours = {id(m) for m in _estimator_modules().values()}
    for key, module in list(sys.modules.items()):
      if _ESTIMATOR_ENTRY.match(key) and id(module) in ours:
        del sys.modules[key]


def _patch_estimator_entries():
  for key, module in list(sys.modules.items()):
    if module is not None and (_ESTIMATOR_PARENT.match(key) or
                               _ESTIMATOR_ENTRY.match(key)):
      _install_estimator(key, module)


class _PatchingLoader(importlib.abc.Loader):
  """Runs TF's loader of a `compat.v1` module, then patches the module."""

  def __init__(self, loader):
    self._loader = loader

  def create_module(self, spec):
    return self._loader.create_module(spec)

  def exec_module(self, module):
    self._loader.exec_module(module)
    if _State.active:
      loaded = sys.modules.get(module.__name__, module)
      if module.__name__.endswith(_PARENT_SUFFIX):
        _patch_parent(loaded)
      _install_estimator(module.__name__, loaded)


class _LayersLoader(importlib.abc.Loader):
  """Loads our layers module (or its `experimental`) under TF's name."""

  def __init__(self, module):
    self._module = module

  def create_module(self, spec):
    return self._module

  def exec_module(self, module):
    pass


class _AliasLoader(importlib.abc.Loader):
  """Loads an already imported Keras module under a `compat.v1.keras` name.

  The import system sets `__spec__` of the module it loads; the Keras
  module's own is put back.
  """

  def __init__(self, module):
    self._module = module
    self._spec = getattr(module, "__spec__", None)

  def create_module(self, spec):
    return self._module

  def exec_module(self, module):
    module.__spec__ = self._spec


def _keras_submodule_spec(fullname):
  """A spec for `*compat.v1.keras.<name>` (not `layers`): Keras' `<name>`."""
  marker = _KERAS_SUFFIX + "."
  index = fullname.find(marker)
  if index < 0:
    return None
  name = fullname[index + len(marker):]
  if name in ("layers", "utils") or name.startswith(("layers.", "utils.")):
    return None
  try:
    target = importlib.import_module(_original_keras().__name__ + "." + name)
  except (ImportError, AttributeError):
    return None
  return importlib.machinery.ModuleSpec(
      fullname, _AliasLoader(target), is_package=hasattr(target, "__path__"))


class _Finder(importlib.abc.MetaPathFinder):
  """Patches `compat.v1` modules that TensorFlow loads after the patch."""

  def find_spec(self, fullname, path, target=None):
    if not _State.active or not _is_tf(fullname):
      return None
    if fullname.endswith(_LAYERS_SUFFIX):
      return importlib.machinery.ModuleSpec(
          fullname, _LayersLoader(LAYERS_MODULE), is_package=True)
    if fullname.endswith(_EXPERIMENTAL_SUFFIX):
      return importlib.machinery.ModuleSpec(
          fullname, _LayersLoader(LAYERS_MODULE.experimental))
    if fullname.endswith(_KERAS_LAYERS_SUFFIX):
      return importlib.machinery.ModuleSpec(
          fullname, _LayersLoader(KERAS_MODULE.layers), is_package=True)
    if fullname.endswith(_KERAS_UTILS_SUFFIX):
      return importlib.machinery.ModuleSpec(
          fullname, _LayersLoader(KERAS_MODULE.utils))
    if fullname.endswith(_KERAS_SUFFIX):
      return importlib.machinery.ModuleSpec(
          fullname, _LayersLoader(KERAS_MODULE), is_package=True)
    estimator = _estimator_entry(fullname)
    if estimator is not None:
      return importlib.machinery.ModuleSpec(
          fullname, _AliasLoader(estimator),
          is_package=hasattr(estimator, "__path__"))
    spec = _keras_submodule_spec(fullname)
    if spec is not None:
      return spec
    if not fullname.endswith((_PARENT_SUFFIX, _V2_PARENT_SUFFIX)):
      return None
    for finder in sys.meta_path:
      if finder is self or not hasattr(finder, "find_spec"):
        continue
      spec = finder.find_spec(fullname, path, target)
      if spec is not None:
        if spec.loader is not None:
          spec.loader = _PatchingLoader(spec.loader)
        return spec
    return None


def patch_tf():
  """Makes `tf.compat.v1.layers` this package's TF1 layers.

  After the call, unchanged TF1 code using `tf.compat.v1.layers.*` (which
  raise "not available with Keras 3" on TF 2.16+) builds this package's
  layers, `tf.compat.v1.keras.layers.BatchNormalization` is the Keras-v1
  class `tf_bn_compat.keras.layers.BatchNormalization` (the other names of
  `tf.compat.v1.keras.layers` stay Keras'), and
  `tf.compat.v1.keras.utils.track_tf1_style_variables` is
  `tf_bn_compat.track_tf1_style_variables` where Keras has none. This holds
  whatever the import style (`import tensorflow as tf`, `import
  tensorflow.compat.v1 as tf`, `from tensorflow.compat.v1 import layers`,
  before or after this call). `tf.keras` and Keras 3 are left as they are.
  Calling it again is harmless; `unpatch_tf()` undoes it.

  Returns:
    The module now at `tf.compat.v1.layers`.
  """
  if not _State.active:
    _State.active = True
    _State.finder = _Finder()
    sys.meta_path.insert(0, _State.finder)
    _patch_loaded_modules()
  return LAYERS_MODULE


def unpatch_tf():
  """Undoes `patch_tf()`: TensorFlow's own `tf.compat.v1.layers` is back.

  Harmless when not patched.
  """
  if not _State.active:
    return
  _State.active = False
  if _State.finder in sys.meta_path:
    sys.meta_path.remove(_State.finder)
  _State.finder = None
  _State.attributes.restore()
  _State.modules.restore()
  _remove_estimator_entries()
  _State.keras_original = None


def is_patched():
  """Whether `patch_tf()` is in effect."""
  return _State.active
