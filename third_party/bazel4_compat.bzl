"""Offline Bazel 4: local stand-ins for rules_cc / rules_java.

Bazel 4's built-in WORKSPACE suffix downloads rules_cc and rules_java; with no
network (and Debian's bazel-rules-cc too new for Bazel 4) these local
repositories, whose .bzl files forward to the native rules, take their place.
Newer Bazels (or stamped 5.x+) are left alone.
"""

def bazel4_offline_repositories():
    version = native.bazel_version
    if version == "" or version.startswith("4."):
        native.local_repository(name = "rules_cc", path = "third_party/bazel4/rules_cc")
        native.local_repository(name = "rules_java", path = "third_party/bazel4/rules_java")
