"""Builds the package's TensorFlow op library from its C++/CUDA sources.

One build definition, custom_ops/build_spec.bzl (sources and flags, also
loaded by Bazel's BUILD), and one implementation (`library.build_library`),
used by three front ends:

* the first use of the op in an installed package, which compiles it once
  into the per-user cache (`cache.ensure_library`, called by the loader
  `tf_bn_compat.ops._library`);
* `python -m tf_bn_compat.build`, the same ahead of time (or into a path);
* custom_ops/build.py, the incremental build of a source tree.

Importing this package does not import TensorFlow.
"""
