r"""Hostile-input fuzzer of the raw ops, against TensorFlow's own.

Calls TfBnCompat>FusedBatchNorm and TfBnCompat>FusedBatchNormGrad (the
functions of tf.load_op_library, eagerly) with random hostile arguments: x of
rank 0 to 6, zero and huge dimensions (2**31 - 1, 2**31, 2**32, 2**40, always
next to a zero so that nothing is big), per-channel inputs of wrong length
or rank, NaN / Inf / huge / subnormal data, any epsilon and
exponential_avg_factor (negative, NaN, Inf, huge), every dtype (bad ones
too) and data_format (bogus strings too), y_backprop of another shape or
dtype. Each call is also made on tf.raw_ops.FusedBatchNormV3 /
FusedBatchNormGradV3, and the two must agree:

* our call succeeds exactly when TF's does, with two exceptions: our
  gradient in inference with channels first, which TF's CPU kernel refuses
  and ours computes; and a negative or non-finite epsilon or
  exponential_avg_factor, which TF takes (giving NaN) and ours refuse with
  an InvalidArgumentError of their own;
* failures are InvalidArgumentError, or the error type TF's op raises; an
  InvalidArgumentError's text is TF's (op names aside);
* outputs have TF's shapes and dtypes, and on tame inputs (finite, |x| <
  1e4, epsilon and factor finite) TF's values, NaN where TF has NaN.

The calls run in a child process: a crash (a signal) is reported with the
case that caused it, and the child is restarted after it. The reference is
TF's portable kernel (TF_ENABLE_ONEDNN_OPTS=0 in the child): the oneDNN one
that TF picks on some CPUs has other texts and takes fewer shapes.

    python tests/custom_ops/fuzz_raw_ops.py --calls=10000 --seed=1

prints one summary line and exits 0 when every call kept the contract.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

FORMATS = ["NHWC", "NCHW", "NDHWC", "NCDHW"]
BAD_FORMATS = ["", "NWHC", "nhwc", "NCHW ", "NC", "NHWCNHWC", "CHWN",
               "NHW\u00c7", "N\x00HWC"]
GOOD_DTYPES = ["float32", "float16", "bfloat16"]
BAD_DTYPES = ["float64", "int32", "int64", "uint8", "bool", "complex64",
              "string"]
HUGE_DIMS = [2**31 - 1, 2**31, 2**32, 2**40]
EPSILONS = [1e-3, 1e-5, 0.0, -0.0, -1e-3, -1.0, math.nan, math.inf,
            -math.inf, 1e30, 1e-45, 3.4e38]
FACTORS = [1.0, 0.6, 0.0, -0.5, 2.0, math.nan, math.inf, -math.inf, 1e30]
MAX_SMALL_DIM = 5


# ---- Cases (plain data, rebuilt in the child from (seed, index)) -----------

def _choice(rng, items):
  return items[int(rng.integers(len(items)))]


def _shape(rng, rank):
  """Small dims, sometimes a zero, sometimes a huge one next to a zero."""
  shape = [int(rng.integers(0 if rng.random() < 0.1 else 1, MAX_SMALL_DIM))
           for _ in range(rank)]
  if rank and rng.random() < 0.12:
    shape[int(rng.integers(rank))] = _choice(rng, HUGE_DIMS)
    if rank > 2 and rng.random() < 0.4:  # Two: their product overflows.
      shape[int(rng.integers(rank))] = _choice(rng, HUGE_DIMS)
    if 0 not in shape:
      small = [k for k, d in enumerate(shape) if d not in HUGE_DIMS]
      shape[_choice(rng, small) if small else 0] = 0
  return shape


def _channel_dim(shape, data_format):
  if not shape:
    return None
  if data_format in ("NCHW", "NCDHW"):
    return 1 if len(shape) > 1 else None
  return len(shape) - 1


def _vector_spec(rng, c):
  """Shape of a per-channel input: right mostly, else wrong length / rank."""
  r = rng.random()
  right = c if c is not None and c <= 64 else int(rng.integers(1, 5))
  if r < 0.85:
    return [right]
  if r < 0.9:
    return [max(0, right + _choice(rng, [-1, 1, 2, 7]))]
  if r < 0.93:
    return [0]
  if r < 0.95:
    return []
  if r < 0.98:
    return [1, right]
  return [right, 1, 1]


def _data_spec(rng):
  """How to fill a tensor: tame, or with specials / extreme magnitudes."""
  r = rng.random()
  if r < 0.6:
    return {"kind": "normal", "loc": _choice(rng, [0.0, 0.0, 3.0, -100.0]),
            "spread": _choice(rng, [1.0, 2.0, 1e-3])}
  if r < 0.75:
    return {"kind": "specials", "count": int(rng.integers(1, 4))}
  if r < 0.85:
    return {"kind": "constant", "value": _choice(rng, [0.0, 1.0, -7.5])}
  return {"kind": "extreme",
          "value": _choice(rng, [1e30, -1e30, 6e4, 1e-40, 3e38])}


def make_case(seed, index):
  """The case of a (seed, index): a JSON-able dict."""
  rng = np.random.default_rng([seed, index])
  grad = rng.random() < 0.4
  rank = int(_choice(rng, [4, 4, 4, 4, 5, 5, 5, 0, 1, 2, 3, 6]))
  data_format = (_choice(rng, BAD_FORMATS) if rng.random() < 0.06 else
                 _choice(rng, FORMATS))
  x_dtype = (_choice(rng, BAD_DTYPES) if rng.random() < 0.08 else
             _choice(rng, GOOD_DTYPES))
  u_dtype = (_choice(rng, ["float16", "bfloat16", "float64", "int32"])
             if rng.random() < 0.05 else "float32")
  x_shape = _shape(rng, rank)
  c = None
  cd = _channel_dim(x_shape, data_format)
  if cd is not None:
    c = x_shape[cd]
  vectors = [_vector_spec(rng, c) for _ in range(4)]
  case = {
      "index": index,
      "op": "grad" if grad else "forward",
      "x_shape": x_shape,
      "x_dtype": x_dtype,
      "x_data": _data_spec(rng),
      "u_dtype": u_dtype,
      "vectors": vectors,
      "vector_data": [_data_spec(rng) for _ in range(4)],
      "data_format": data_format,
      "is_training": bool(rng.random() < 0.6),
      "epsilon": _choice(rng, EPSILONS) if rng.random() < 0.3 else 1e-3,
      "factor": _choice(rng, FACTORS) if rng.random() < 0.4 else 1.0,
  }
  if grad:
    r = rng.random()
    dy_shape = list(x_shape)
    if r < 0.08:
      dy_shape = _shape(rng, int(_choice(rng, [3, 4, 5])))
    elif r < 0.14 and dy_shape:
      k = int(rng.integers(len(dy_shape)))
      other = list(dy_shape)
      other[k] = other[k] + 1 if other[k] < 2**31 else 1
      if int(np.prod(other, dtype=object)) <= 10**4:  # Never a big tensor.
        dy_shape = other
    case["dy_shape"] = dy_shape
    case["dy_dtype"] = (_choice(rng, GOOD_DTYPES + ["float64"])
                        if rng.random() < 0.05 else x_dtype)
    case["dy_data"] = _data_spec(rng)
  return case


def describe(case):
  """The arguments of a case, for a report."""
  keys = ["op", "x_shape", "x_dtype", "x_data", "u_dtype", "vectors",
          "vector_data", "data_format", "is_training", "epsilon", "factor",
          "dy_shape", "dy_dtype"]
  return ", ".join("%s=%r" % (k, case[k]) for k in keys if k in case)


# ---- Child: run cases, report results line by line --------------------------

def _fill(shape, spec, seed):
  """float64 values for a shape (small: the caller checked its size)."""
  rng = np.random.default_rng(seed)
  size = int(np.prod(shape)) if shape else 1
  if spec["kind"] == "normal":
    v = rng.standard_normal(size) * spec["spread"] + spec["loc"]
  elif spec["kind"] == "constant":
    v = np.full(size, spec["value"])
  elif spec["kind"] == "extreme":
    v = np.full(size, spec["value"]) * rng.choice([1.0, -1.0, 0.5], size)
  else:
    v = rng.standard_normal(size)
    for _ in range(spec["count"]):
      v[rng.integers(size)] = rng.choice([np.nan, np.inf, -np.inf])
  return v.reshape(shape)


def _tensor(tf, shape, dtype, spec, seed):
  """A tensor of a shape and dtype; zeros when it has no elements."""
  tf_dtype = tf.as_dtype(dtype)
  if 0 in shape:
    return tf.zeros(shape, tf_dtype)
  values = _fill(shape, spec, seed)
  if dtype == "string":
    return tf.constant(np.full(shape, "x"))
  if dtype == "bool":
    return tf.constant(values > 0)
  if dtype == "complex64":
    return tf.constant(values.astype(np.complex64))
  if tf_dtype.is_integer:
    values = np.nan_to_num(values, posinf=0.0, neginf=0.0)
    values = np.clip(values, tf_dtype.min, tf_dtype.max)
  return tf.cast(tf.constant(values), tf_dtype)


def _inputs(tf, case):
  """x, the four per-channel tensors and dy of a case (may raise)."""
  seed = case["index"]
  x = _tensor(tf, case["x_shape"], case["x_dtype"], case["x_data"], seed)
  vectors = []
  for i, (shape, spec) in enumerate(zip(case["vectors"],
                                        case["vector_data"])):
    vectors.append(_tensor(tf, shape, case["u_dtype"], spec,
                           seed * 7 + i + 1))
  dy = None
  if case["op"] == "grad":
    dy = _tensor(tf, case["dy_shape"], case["dy_dtype"], case["dy_data"],
                 seed * 7 + 9)
  return x, vectors, dy


def _outcome(fn):
  """("ok", outputs) or ("error", type name, message)."""
  try:
    return ("ok", [t for t in fn()])
  except Exception as e:  # pylint: disable=broad-except
    return ("error", type(e).__name__, str(e))


def normalize_message(message):
  """An error's own text: no node / op names, no NodeDef dump."""
  text = message.split("\n")[0].split("\t;")[0]
  if text.startswith("{{function_node"):
    text = text.split("}} ", 1)[-1]
  for cut in (" [Op:", " name: ", "; NodeDef"):
    text = text.split(cut)[0]
  for name in ("TfBnCompat>FusedBatchNormGrad", "FusedBatchNormGradV3",
               "TfBnCompat>FusedBatchNorm", "_MklNativeFusedBatchNormV3",
               "FusedBatchNormV3"):
    text = text.replace(name, "<op>")
  return text.strip()


def _tame(case):
  specs = [case["x_data"]] + case["vector_data"] + (
      [case["dy_data"]] if case["op"] == "grad" else [])
  return (all(s["kind"] in ("normal", "constant") and
              abs(s.get("loc", s.get("value", 0.0))) < 1e4 for s in specs)
          and math.isfinite(case["epsilon"]) and case["epsilon"] >= 0
          and math.isfinite(case["factor"]) and abs(case["factor"]) <= 2)


def _reference(tf, case):
  """float64 (y, batch_mean, batch_var) or (dx, dscale, doffset) of a case."""
  x, (a, b, c, d), dy = _inputs(tf, case)
  x = x.numpy().astype(np.float64)
  a, b, c, d = (t.numpy().astype(np.float64) for t in (a, b, c, d))
  cd = _channel_dim(case["x_shape"], case["data_format"])
  axes = tuple(k for k in range(x.ndim) if k != cd)
  shape = [1] * x.ndim
  shape[cd] = -1
  eps = case["epsilon"]
  if case["op"] == "grad":  # Inference only (see _compare_values).
    dy = dy.numpy().astype(np.float64)
    inv = 1.0 / np.sqrt(d + eps)
    xhat = (x - c.reshape(shape)) * inv.reshape(shape)
    return [dy * (a * inv).reshape(shape), (dy * xhat).sum(axes),
            dy.sum(axes)]
  if case["is_training"]:
    m, v = x.mean(axes), x.var(axes)
    count = x.size // x.shape[cd]
    vu = v * count / max(count - 1, 1)
    f = case["factor"]
    bm, bv = (m, vu) if f == 1.0 else ((1 - f) * c + f * m,
                                       (1 - f) * d + f * vu)
  else:
    m, v = c, d
    bm, bv = c, d
  y = ((x - m.reshape(shape)) / np.sqrt(v.reshape(shape) + eps) *
       a.reshape(shape) + b.reshape(shape))
  return [y, bm, bv]


def _compare_values(tf, case, ours, theirs):
  """Problems with our outputs against TF's (shapes, dtypes, values).

  Values that differ from TF's more than the tolerance are still right when
  they are no farther from the float64 reference than TF's.
  """
  problems = []
  reference = None
  tolerance = {"float32": 2e-3, "float16": 3e-2, "bfloat16": 1e-1}
  for i, (a, b) in enumerate(zip(ours[:3], theirs[:3])):
    if i == 0 and _tf_empty_5d_gradient(case, a, b):
      continue
    if a.shape.as_list() != b.shape.as_list() or a.dtype != b.dtype:
      problems.append("output %d: %s %s, TF %s %s" % (
          i, a.dtype.name, a.shape, b.dtype.name, b.shape))
      continue
    if not _tame(case) or not 0 < a.shape.num_elements() <= 10**5:
      continue
    # TF's gradient reads reserve_space_2 as a variance in training, ours
    # as 1 / sqrt(variance + epsilon): values comparable in inference only.
    if case["op"] == "grad" and case["is_training"]:
      continue
    av = a.numpy().astype(np.float64)
    bv = b.numpy().astype(np.float64)
    if not np.array_equal(np.isnan(av), np.isnan(bv)):
      problems.append("output %d: NaN at other places than TF's" % i)
      continue
    fin = np.isfinite(av) & np.isfinite(bv)
    scale = max(1.0, float(np.max(np.abs(bv[fin]), initial=0.0)))
    tol = tolerance.get(case["x_dtype"], 2e-3) * scale
    if not np.array_equal(np.isinf(av), np.isinf(bv)) or (
        fin.any() and np.max(np.abs(av[fin] - bv[fin])) > tol):
      if reference is None:
        reference = _reference(tf, case)
      want = reference[i]
      ours_err = np.max(np.abs(av - want), initial=0.0)
      tf_err = np.max(np.abs(bv - want), initial=0.0)
      if not ours_err <= max(tf_err, tol):
        problems.append("output %d: values differ from TF's (max %g), "
                        "error %g vs TF's %g" % (
                            i, float(np.max(np.abs(av[fin] - bv[fin]),
                                            initial=0.0)),
                            ours_err, tf_err))
  return problems


def _tf_empty_5d_gradient(case, ours, theirs):
  """TF's gradient returns an empty 5-D x_backprop in its 4-D view.

  (FusedBatchNormGradV3 returns early for an empty x, before it reshapes its
  4-D view of a 5-D x back; its shape function says 5-D, as we return.)
  """
  shape = case["x_shape"]
  if case["op"] != "grad" or len(shape) != 5 or 0 not in shape:
    return False
  if ours.shape.as_list() != shape:
    return False
  cd = _channel_dim(shape, case["data_format"])
  spatial = [d for k, d in enumerate(shape) if k not in (0, cd)]
  view = [shape[0], spatial[0], spatial[1] * spatial[2]]
  view.insert(1 if cd == 1 else 3, shape[cd])
  return theirs.shape.as_list() == view


def _tf_5d_overflow(case):
  """TF views a 5-D x as 4-D, multiplying two dims without overflow check.

  For an empty x with such dims TF fails ("Dimension -... must be >= 0") or
  returns odd shapes; we return the empty result.
  """
  shape = case["x_shape"]
  if len(shape) != 5 or 0 not in shape:
    return False
  cd = _channel_dim(shape, case["data_format"])
  spatial = [d for k, d in enumerate(shape) if k not in (0, cd)]
  return spatial[1] * spatial[2] >= 2**63


def _known_superset(case, theirs):
  """Where we give a result and TF's op does not, knowingly.

  Our gradient computes inference with channels first (TF's CPU kernel
  refuses it); see also _tf_5d_overflow.
  """
  if _tf_5d_overflow(case):
    return True
  return (case["op"] == "grad" and not case["is_training"] and
          theirs[0] == "error" and "only support NHWC" in theirs[2])


def _both_attr_errors(ours, theirs):
  """Two bad attrs: which one TF names first varies from node to node."""
  prefix = "Value for attr '"
  return (normalize_message(ours[2]).startswith(prefix) and
          normalize_message(theirs[2]).startswith(prefix))


ATTR_ERROR_TEXTS = ("epsilon must be finite and >= 0",
                    "exponential_avg_factor must be finite")


def _bad_attrs(case):
  """Whether a case has an epsilon or factor that our ops refuse."""
  eps = case["epsilon"]
  bad = not (math.isfinite(eps) and eps >= 0)
  return bad or (case["op"] == "forward" and not math.isfinite(case["factor"]))


def _judge_bad_attrs(ours, theirs):
  """Problems of a call with a bad attribute, or None to judge it as others.

  Ours must fail, with our attribute error, or (another check failing
  first) as TF's call fails.
  """
  if ours[0] == "ok":
    return ["a bad epsilon or exponential_avg_factor was taken"]
  text = normalize_message(ours[2])
  if ours[1] == "InvalidArgumentError" and text.startswith(ATTR_ERROR_TEXTS):
    return []
  if theirs[0] == "ok":
    return ["a bad attribute gave %s: %s" % (ours[1], text)]
  return None


def judge(case, ours, theirs, tf=None):
  """The contract problems of one call (empty when it kept it).

  tf: the TensorFlow module, for a float64 reference where values differ.
  """
  if _bad_attrs(case):
    problems = _judge_bad_attrs(ours, theirs)
    if problems is not None:
      return problems
  if ours[0] == "error":
    if theirs[0] == "ok":
      return ["we raised %s where TF succeeds: %s" % (
          ours[1], normalize_message(ours[2]))]
    if ours[1] != "InvalidArgumentError" and ours[1] != theirs[1]:
      return ["we raised %s, TF %s: %s" % (ours[1], theirs[1],
                                           normalize_message(ours[2]))]
    if (ours[1] == theirs[1] == "InvalidArgumentError" and
        normalize_message(ours[2]) != normalize_message(theirs[2]) and
        not _both_attr_errors(ours, theirs)):
      return ["text %r, TF's %r" % (normalize_message(ours[2]),
                                    normalize_message(theirs[2]))]
    return []
  if theirs[0] == "error":
    if _known_superset(case, theirs):
      return []
    return ["we succeeded where TF raises %s: %s" % (
        theirs[1], normalize_message(theirs[2]))]
  if _tf_5d_overflow(case):
    return []
  return _compare_values(tf, case, ours[1], theirs[1])


def _call(tf, bn_ops, case, which):
  x, (a, b, c, d), dy = _inputs(tf, case)
  attrs = dict(epsilon=case["epsilon"], data_format=case["data_format"],
               is_training=case["is_training"])
  if case["op"] == "forward":
    attrs["exponential_avg_factor"] = case["factor"]
    if which == "ours":
      return bn_ops.tf_bn_compat_fused_batch_norm(x, a, b, c, d, **attrs)
    return tf.raw_ops.FusedBatchNormV3(x=x, scale=a, offset=b, mean=c,
                                       variance=d, **attrs)[:3]
  if which == "ours":
    return bn_ops.tf_bn_compat_fused_batch_norm_grad(dy, x, a, b, c, **attrs)
  return tf.raw_ops.FusedBatchNormGradV3(
      y_backprop=dy, x=x, scale=a, reserve_space_1=b, reserve_space_2=c,
      reserve_space_3=tf.zeros([0]), **attrs)[:3]


def child_main(seed, start, stop, compare):
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  sys.path.insert(0, ROOT)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tf_bn_compat.ops import _library  # pylint: disable=g-import-not-at-top
  bn_ops = _library.load_library()
  if bn_ops is None:
    print("FATAL " + json.dumps(_library.load_error()), flush=True)
    return 2
  out = sys.stdout
  for index in range(start, stop):
    case = make_case(seed, index)
    try:
      _inputs(tf, case)
    except Exception as e:  # pylint: disable=broad-except
      out.write("RESULT %s\n" % json.dumps(
          {"index": index, "kind": "bad_input", "error": type(e).__name__}))
      out.flush()
      continue
    out.write("PHASE %d ours\n" % index)
    out.flush()
    ours = _outcome(lambda: _call(tf, bn_ops, case, "ours"))
    theirs = None
    if compare:
      out.write("PHASE %d tf\n" % index)
      out.flush()
      theirs = _outcome(lambda: _call(tf, bn_ops, case, "tf"))
    if theirs is None:
      bad_type = ours[0] == "error" and ours[1] != "InvalidArgumentError"
      problems = ["we raised %s" % ours[1]] if bad_type else []
    else:
      problems = judge(case, ours, theirs, tf)
    result = {"index": index, "kind": ours[0],
              "error": ours[1] if ours[0] == "error" else None,
              "problems": problems}
    out.write("RESULT %s\n" % json.dumps(result))
    out.flush()
  return 0


# ---- Parent: run the child, survive its crashes, summarize ------------------

def _child_env():
  env = dict(os.environ)
  # Always TF's portable kernel (see the module docstring), even where the
  # suite runs with oneDNN on.
  env["TF_ENABLE_ONEDNN_OPTS"] = "0"
  env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  return env


def run(calls, seed, compare=True, timeout_s=3600, log=sys.stderr):
  """Fuzzes `calls` cases; returns the summary dict."""
  summary = {"calls": calls, "seed": seed, "ok": 0, "invalid_argument": 0,
             "other_errors": 0, "bad_inputs": 0, "crashes": [],
             "tf_crashes": [], "problems": []}
  start = 0
  deadline = time.time() + timeout_s
  while start < calls:
    cmd = [sys.executable, os.path.abspath(__file__), "--child",
           "--seed=%d" % seed, "--start=%d" % start, "--stop=%d" % calls,
           "--compare=%d" % int(compare)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_child_env(),
                            cwd=ROOT, text=True)
    phase = None
    done = start
    for line in proc.stdout:
      if line.startswith("PHASE "):
        _, index, which = line.split()
        phase = (int(index), which)
      elif line.startswith("RESULT "):
        result = json.loads(line[len("RESULT "):])
        done = result["index"] + 1
        phase = None
        _count(summary, result, seed)
      elif line.startswith("FATAL "):
        raise RuntimeError("child cannot load the op library: " + line)
      if time.time() > deadline:
        proc.kill()
        raise RuntimeError("fuzzing timed out after %d s" % timeout_s)
    proc.wait()
    stderr = proc.stderr.read()
    if proc.returncode == 0 and done >= calls:
      break
    if phase is None:
      raise RuntimeError("child failed outside a call (status %d): %s" % (
          proc.returncode, stderr[-2000:]))
    index, which = phase
    crash = {"index": index, "in": which, "status": proc.returncode,
             "case": describe(make_case(seed, index))}
    summary["crashes" if which == "ours" else "tf_crashes"].append(crash)
    log.write("CRASH (status %d) in %s call of case %d: %s\n" % (
        proc.returncode, which, index, crash["case"]))
    start = index + 1
  return summary


def _count(summary, result, seed):
  kind = result["kind"]
  if kind == "bad_input":
    summary["bad_inputs"] += 1
    return
  if kind == "ok":
    summary["ok"] += 1
  elif result["error"] == "InvalidArgumentError":
    summary["invalid_argument"] += 1
  else:
    summary["other_errors"] += 1
  for problem in result.get("problems", []):
    summary["problems"].append(
        {"index": result["index"], "problem": problem,
         "case": describe(make_case(seed, result["index"]))})


def summary_line(summary):
  return ("fuzz_raw_ops: calls=%d seed=%d ok=%d invalid_argument=%d "
          "other_errors=%d bad_inputs=%d problems=%d crashes=%d "
          "tf_crashes=%d" % (
              summary["calls"], summary["seed"], summary["ok"],
              summary["invalid_argument"], summary["other_errors"],
              summary["bad_inputs"], len(summary["problems"]),
              len(summary["crashes"]), len(summary["tf_crashes"])))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--calls", type=int, default=1000)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--no-tf", action="store_true",
                      help="do not call TF's op (error types only)")
  parser.add_argument("--show", type=int, default=20,
                      help="problems to print")
  parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
  parser.add_argument("--stop", type=int, default=0, help=argparse.SUPPRESS)
  parser.add_argument("--compare", type=int, default=1,
                      help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.child:
    return child_main(args.seed, args.start, args.stop, bool(args.compare))
  summary = run(args.calls, args.seed, compare=not args.no_tf)
  for p in summary["problems"][:args.show]:
    print("PROBLEM case %d: %s\n    %s" % (p["index"], p["problem"],
                                           p["case"]))
  print(summary_line(summary))
  return 0 if not summary["problems"] and not summary["crashes"] else 1


if __name__ == "__main__":
  sys.exit(main())
