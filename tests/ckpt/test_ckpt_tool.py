"""`python -m tf_bn_compat.ckpt`: inspect and diff on TF1-layer checkpoints.

Checkpoints are written by TF1's own layer (the reference) and by ours, from
the same model: a fused layer, a renorm layer and a multi-axis layer
(axis=[1, 3], center=False). A few runs go through a subprocess (the real
command line, exit statuses, one-line errors); the rest call the functions
(fast).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import ckpt_graphs
import package_env
import parity
from tf_bn_compat.ckpt import __main__ as cli
from tf_bn_compat.ckpt import diff as diff_lib
from tf_bn_compat.ckpt import graph_source
from tf_bn_compat.ckpt import inspect as inspect_lib
from tf_bn_compat.ckpt import reader

# ckpt_graphs, which the command line subprocesses import, lives here.
HERE = os.path.dirname(os.path.abspath(__file__))
SCOPES = ["model/batch_normalization", "model/batch_normalization_1",
          "model/batch_normalization_2"]


def _write(module, path, train_steps):
  graph = tf.Graph()
  with graph.as_default():
    x, y = ckpt_graphs.build(module)
    loss = tf.reduce_mean(tf.square(y - 1.0))
    updates = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
    with tf.control_dependencies(updates):
      train = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      for batch in parity.make_batches(ckpt_graphs.SHAPE, np.float32,
                                       train_steps)[:train_steps]:
        sess.run(train, {x: batch})
      return tf.compat.v1.train.Saver().save(sess, path)


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
  """Prefixes of checkpoints: "reference", "ours" (trained), "untrained"."""
  root = tmp_path_factory.mktemp("ckpts")
  return {
      "reference": _write(parity.reference_module(),
                          str(root / "reference" / "model.ckpt"), 2),
      "ours": _write(parity.ours_module(), str(root / "ours" / "model.ckpt"),
                     2),
      "untrained": _write(parity.ours_module(),
                          str(root / "untrained" / "model.ckpt"), 0),
  }


def _corrupt_copy(prefix, tmp_path, suffix, content):
  """Copies a checkpoint to tmp_path and replaces one of its files."""
  target = str(tmp_path / "model.ckpt")
  for ending in (".index", ".data-00000-of-00001"):
    with open(prefix + ending, "rb") as f:
      data = f.read()
    if ending == suffix:
      data = content(data)
    with open(target + ending, "wb") as f:
      f.write(data)
  return target


def _cli(*args):
  env = package_env.child_env(
      PYTHONPATH=package_env.pythonpath(HERE, package_env.TESTS))
  return subprocess.run([sys.executable, "-m", "tf_bn_compat.ckpt"] +
                        list(args), capture_output=True, text=True, env=env,
                        cwd=HERE, timeout=120, check=False)


def _error_lines(stderr):
  """stderr without TensorFlow's start-up log lines."""
  return [l for l in stderr.splitlines() if l.startswith("error:") or
          "Traceback" in l]


def _in_process(capsys, *args, graph_fn=None):
  argv = ["ckpt"] + ["--graph_fn=" + graph_fn] if graph_fn else ["ckpt"]
  cli.FLAGS(argv)
  try:
    status = cli.main(["ckpt"] + list(args))
  finally:
    cli.FLAGS.unparse_flags()
  out = capsys.readouterr()
  return status, out.out, out.err


# inspect


@pytest.mark.parametrize("writer", ["reference", "ours"])
def test_inspect_finds_groups(ckpts, writer):
  result = inspect_lib.inspect_checkpoint(ckpts[writer])
  groups = {g.scope: g for g in result.grouping.groups}
  assert sorted(groups) == SCOPES
  fused, renorm, multi = (groups[s] for s in SCOPES)
  assert list(fused.members) == ["gamma", "beta", "moving_mean",
                                 "moving_variance"]
  assert not fused.renorm and renorm.renorm
  assert list(renorm.members) == ["gamma", "beta", "moving_mean",
                                  "moving_variance", "moving_stddev",
                                  "renorm_mean", "renorm_stddev"]
  assert list(multi.members) == ["gamma", "moving_mean", "moving_variance"]
  assert multi.members["gamma"].shape == (1, 4, 1, 3)
  assert all(i.dtype == tf.float32 and i.shape == (3,)
             for i in fused.members.values())
  assert all(not g.problems for g in groups.values())
  assert result.grouping.others == ["model/w"]
  assert not result.grouping.incomplete
  assert result.untrained == set()
  lines = inspect_lib.format_inspection(result)
  assert "batch norm groups: 3" in lines
  assert "  model/batch_normalization_1  [renorm]" in lines
  assert "    gamma            float32   [1, 4, 1, 3]" in lines
  assert lines[-1] == "other variables: 1 (of 15)"


def test_inspect_flags_untrained_moving_statistics(ckpts):
  result = inspect_lib.inspect_checkpoint(ckpts["untrained"])
  assert result.untrained == set(SCOPES)
  assert any("UPDATE_OPS never ran" in line
             for line in inspect_lib.format_inspection(result))


def test_inspect_command_line(ckpts):
  # A directory works as well as a prefix (its `checkpoint` state file).
  run = _cli("inspect", os.path.dirname(ckpts["reference"]))
  assert run.returncode == 0, run.stderr
  assert "batch norm groups: 3" in run.stdout
  assert "model/batch_normalization_1  [renorm]" in run.stdout
  assert "other variables: 1 (of 15)" in run.stdout


def test_groups_report_incomplete_and_inconsistent():
  info = reader.VariableInfo
  variables = {
      "a/moving_mean": info((3,), tf.float32, "a/moving_mean"),
      "a/moving_variance": info((4,), tf.float32, "a/moving_variance"),
      "a/moving_stddev": info((3,), tf.float32, "a/moving_stddev"),
      "a/gamma/Adam": info((3,), tf.float32, "a/gamma/Adam"),
      "b/moving_mean": info((3,), tf.float32, "b/moving_mean"),
      "ln/gamma": info((3,), tf.float32, "ln/gamma"),
  }
  from tf_bn_compat.ckpt import groups  # pylint: disable=g-import-not-at-top
  grouping = groups.find_groups(variables)
  (group,) = grouping.groups
  assert group.scope == "a" and group.renorm
  assert any("disagree on shape" in p for p in group.problems)
  assert any("renorm variables incomplete" in p for p in group.problems)
  assert [g.scope for g in grouping.incomplete] == ["b"]
  assert grouping.incomplete[0].problems == ["lacks moving_variance"]
  assert grouping.others == ["a/gamma/Adam", "b/moving_mean", "ln/gamma"]


# diff


def test_diff_command_line_match(ckpts):
  # Our graph against the reference's checkpoint: same names, shapes, dtypes.
  run = _cli("diff", ckpts["reference"], "--graph_fn=ckpt_graphs:ours_model")
  assert run.returncode == 0, run.stderr
  assert run.stdout.splitlines()[-1] == (
      "checkpoint matches the graph: 15 variable(s)")


def test_diff_command_line_mismatch(ckpts):
  run = _cli("diff", ckpts["ours"], "--graph_fn=ckpt_graphs:ours_changed")
  assert run.returncode == 1, run.stderr
  lines = run.stdout.splitlines()
  assert "missing in checkpoint: model/extra (graph: float32 [2])" in lines
  assert ("unexpected in checkpoint: model/batch_normalization_1/"
          "moving_stddev (checkpoint: float32 [3])") in lines
  assert ("shape mismatch: model/batch_normalization/gamma: graph [6], "
          "checkpoint [3]") in lines
  assert ("shape mismatch: model/batch_normalization_2/moving_mean: graph "
          "[1, 4, 1, 6], checkpoint [1, 4, 1, 3]") in lines
  # 1 missing, 3 renorm extras unexpected, 4 + 4 + 3 shape mismatches.
  assert lines[-1] == "15 difference(s); 1 variable(s) match"


def test_diff_reference_graph_against_our_checkpoint(ckpts):
  result = diff_lib.diff_checkpoint(ckpts["ours"],
                                    ckpt_graphs.reference_model)
  assert not diff_lib.has_differences(result)
  assert result.matched == 15


def test_diff_dtype_mismatch(ckpts):
  result = diff_lib.diff_checkpoint(ckpts["reference"],
                                    ckpt_graphs.ours_float64)
  assert not (result.missing or result.unexpected or result.shape_mismatch)
  assert len(result.dtype_mismatch) == 15
  assert ("dtype mismatch: model/w: graph float64, checkpoint float32"
          in diff_lib.format_diff(result))


def test_diff_ignore(ckpts):
  result = diff_lib.diff_checkpoint(
      ckpts["ours"], "ckpt_graphs:ours_changed",
      ignore=r"model/(extra|batch_normalization_1/.*)")
  assert result.missing == [] and result.unexpected == []
  assert [m[0] for m in result.shape_mismatch] == [
      "model/batch_normalization/beta", "model/batch_normalization/gamma",
      "model/batch_normalization/moving_mean",
      "model/batch_normalization/moving_variance",
      "model/batch_normalization_2/gamma",
      "model/batch_normalization_2/moving_mean",
      "model/batch_normalization_2/moving_variance"]


# Unusable input: exit status 2 and one line on stderr.


def test_missing_path_command_line(tmp_path):
  run = _cli("inspect", str(tmp_path / "nothing"))
  assert run.returncode == 2
  assert _error_lines(run.stderr) == [
      "error: %s: no such checkpoint (neither %s.index nor a directory "
      "exists)" % (tmp_path / "nothing", tmp_path / "nothing")]


def test_corrupt_index_command_line(ckpts, tmp_path):
  prefix = _corrupt_copy(ckpts["ours"], tmp_path, ".index",
                         lambda data: b"garbage" * 3)
  run = _cli("diff", prefix, "--graph_fn=ckpt_graphs:ours_model")
  assert run.returncode == 2
  (line,) = _error_lines(run.stderr)
  assert line.startswith("error: %s: not a readable checkpoint (" % prefix)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_data_file(ckpts, tmp_path, capsys, damage):
  change = {"truncated": lambda data: data[:len(data) // 2],
            "garbage": lambda data: bytes(len(data))}[damage]
  prefix = _corrupt_copy(ckpts["ours"], tmp_path, ".data-00000-of-00001",
                         change)
  with pytest.raises(reader.CheckpointError,
                     match="cannot read tensor .* from the data file"):
    reader.read_variables(prefix, verify_data=True)
  # The index alone still lists the variables.
  assert len(reader.read_variables(prefix)[2]) == 15
  status, out, err = _in_process(capsys, "inspect", prefix)
  assert status == 2 and out == ""
  assert err.startswith("error: %s: cannot read tensor" % prefix)
  assert len(err.splitlines()) == 1


def test_directory_without_checkpoint(tmp_path, capsys):
  status, _, err = _in_process(capsys, "inspect", str(tmp_path))
  assert status == 2
  assert err == ("error: %s: directory holds no checkpoint (no 'checkpoint' "
                 "state file naming one)\n" % tmp_path)


def test_not_a_checkpoint_file(tmp_path, capsys):
  path = tmp_path / "notes.txt"
  path.write_text("hello")
  status, _, err = _in_process(capsys, "inspect", str(path))
  assert status == 2
  assert err.startswith("error: %s: not a readable checkpoint" % path)


@pytest.mark.parametrize("graph_fn, message", [
    ("no_colon", "--graph_fn must be 'module.path:function'"),
    ("no_such_module_xyz:f", "cannot import no_such_module_xyz "
     "(ModuleNotFoundError"),
    ("ckpt_graphs:missing", "ckpt_graphs has no attribute 'missing'"),
    ("ckpt_graphs:NOT_CALLABLE", "3 is not callable"),
    ("ckpt_graphs:raises", "ckpt_graphs:raises raised while building the "
     "graph: ValueError: this model cannot be built"),
])
def test_bad_graph_fn(ckpts, capsys, graph_fn, message):
  status, out, err = _in_process(capsys, "diff", ckpts["ours"],
                                 graph_fn=graph_fn)
  assert status == 2 and out == ""
  assert message in err and len(err.splitlines()) == 1


def test_usage_errors(ckpts, capsys):
  assert _in_process(capsys, "diff", ckpts["ours"])[2] == (
      "error: diff needs --graph_fn=module.path:function\n")
  status, _, err = _in_process(capsys, "list", ckpts["ours"])
  assert status == 2 and err.startswith("error: usage:")
  with pytest.raises(graph_source.GraphFnError):
    graph_source.load_graph_fn("")
