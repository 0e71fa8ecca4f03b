"""A fixed slice of the raw-op fuzzer (fuzz_raw_ops.py), and its judge."""

import fuzz_raw_ops

SLICE_CALLS = 300
SLICE_SEED = 20261201


def test_fuzz_slice_keeps_the_contract(bn_ops):
  """300 hostile calls in a child process: no crash, TF's outcomes."""
  del bn_ops  # Loaded here so a missing library fails as elsewhere.
  summary = fuzz_raw_ops.run(SLICE_CALLS, SLICE_SEED, timeout_s=300)
  line = fuzz_raw_ops.summary_line(summary)
  assert not summary["crashes"], (line, summary["crashes"])
  assert not summary["tf_crashes"], (line, summary["tf_crashes"])
  assert not summary["problems"], (line, summary["problems"][:5])
  # The slice reaches the kernels, not only the argument checks.
  assert summary["ok"] >= SLICE_CALLS // 10, line
  assert summary["invalid_argument"] >= SLICE_CALLS // 10, line


def test_cases_are_reproducible_and_never_big():
  for index in range(2000):
    case = fuzz_raw_ops.make_case(7, index)
    assert case == fuzz_raw_ops.make_case(7, index)
    for shape in [case["x_shape"], case.get("dy_shape", [])] + case[
        "vectors"]:
      size = 1
      for d in shape:
        size *= d
      assert size <= 10**4, (index, shape)


def test_normalize_message_drops_names_only():
  ours = ("{{function_node __wrapped__TfBnCompat>FusedBatchNorm_device_/job:"
          "localhost/replica:0/task:0/device:CPU:0}} scale must have the same "
          "number of elements as the channels of x, got 3 and 2 "
          "[Op:TfBnCompat>FusedBatchNorm] name: ")
  theirs = ("{{function_node __wrapped__FusedBatchNormV3_device_/job:"
            "localhost/replica:0/task:0/device:CPU:0}} scale must have the "
            "same number of elements as the channels of x, got 3 and 2 "
            "[Op:FusedBatchNormV3]")
  assert (fuzz_raw_ops.normalize_message(ours) ==
          fuzz_raw_ops.normalize_message(theirs) ==
          "scale must have the same number of elements as the channels of "
          "x, got 3 and 2")


def _case(bad_attrs):
  for index in range(100):
    case = fuzz_raw_ops.make_case(1, index)
    if fuzz_raw_ops._bad_attrs(case) == bad_attrs:  # pylint: disable=protected-access
      return case
  raise AssertionError("no such case in 100")


def test_judge_flags_wrong_error_types_and_texts():
  case = _case(bad_attrs=False)
  bad = ("error", "InvalidArgumentError", "scale must be 1-dimensional[1]")
  assert fuzz_raw_ops.judge(case, bad, ("ok", [])) != []
  internal = ("error", "InternalError", "kernel failed")
  assert fuzz_raw_ops.judge(case, internal, bad) != []
  other = ("error", "InvalidArgumentError", "offset must be 1-dimensional[1]")
  assert fuzz_raw_ops.judge(case, other, bad) != []
  assert fuzz_raw_ops.judge(case, bad, bad) == []


def test_judge_wants_our_error_for_a_bad_attribute():
  case = _case(bad_attrs=True)
  ours = ("error", "InvalidArgumentError",
          "epsilon must be finite and >= 0, got -1")
  rank = ("error", "InvalidArgumentError", "input must be 4 or 5-dimensional")
  assert fuzz_raw_ops.judge(case, ours, ("ok", [])) == []
  assert fuzz_raw_ops.judge(case, ours, rank) == []
  assert fuzz_raw_ops.judge(case, rank, rank) == []
  assert fuzz_raw_ops.judge(case, ("ok", []), ("ok", [])) != []
  assert fuzz_raw_ops.judge(case, rank, ("ok", [])) != []
