"""Hypothesis: random shapes / attributes / values (NaN, Inf included) through
the raw op, against TF's FusedBatchNormV3 (float32, eager)."""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st, HealthCheck

import bn_reference as ref

# Compared with TensorFlow's kernels in this process (see conftest.py).
pytestmark = pytest.mark.usefixtures("tensorflows_kernels")

SPECIALS = [np.nan, np.inf, -np.inf]


@st.composite
def cases(draw):
  data_format = draw(st.sampled_from(ref.FORMATS))
  n = draw(st.integers(0, 3))
  c = draw(st.integers(1, 5))
  spatial = draw(st.lists(st.integers(1, 4), min_size=3, max_size=3))
  shape = ref.make_shape(data_format, n, c, spatial)
  seed = draw(st.integers(0, 2**31 - 1))
  loc = draw(st.sampled_from([0.0, 3.0, -1e3]))
  rng = np.random.default_rng(seed)
  x, scale, offset, mean, var = ref.random_inputs(rng, shape, data_format,
                                                  "float32", loc=loc)
  if x.size and draw(st.booleans()):
    flat = x.reshape(-1)
    for _ in range(draw(st.integers(1, 3))):
      flat[rng.integers(flat.size)] = SPECIALS[rng.integers(3)]
  return dict(x=x, scale=scale, offset=offset, mean=mean, var=var,
              data_format=data_format,
              is_training=draw(st.booleans()),
              factor=draw(st.sampled_from([1.0, 0.5])),
              epsilon=draw(st.sampled_from([1e-5, 1e-3, 0.1])))


def _same(got, want, tol):
  got, want = ref.f64(got), ref.f64(want)
  assert got.shape == want.shape
  # Non-finite exactly where TF is non-finite; close elsewhere.
  np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
  fin = np.isfinite(want)
  np.testing.assert_allclose(got[fin], want[fin], rtol=tol, atol=tol)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(case=cases())
def test_random_cases_match_tf(bn_ops, case):
  args = dict(epsilon=case["epsilon"], exponential_avg_factor=case["factor"],
              data_format=case["data_format"],
              is_training=case["is_training"])
  x, s, o, m, v = (case[k] for k in ("x", "scale", "offset", "mean", "var"))
  ours = bn_ops.tf_bn_compat_fused_batch_norm(x, s, o, m, v, **args)
  theirs = tf.raw_ops.FusedBatchNormV3(x=x, scale=s, offset=o, mean=m,
                                       variance=v, **args)
  # |x| up to ~1e3 (loc): relative 1e-4 of the scale of the values.
  tol = 1e-4 * max(1.0, float(np.nanmax(np.abs(np.where(np.isfinite(x), x,
                                                        0)), initial=0)))
  for i in range(3):
    _same(ours[i].numpy(), theirs[i].numpy(), tol if i else 1e-3)
  dy = np.ones_like(x)
  stat_a = ours[3] if case["is_training"] else m
  stat_b = ours[4] if case["is_training"] else v
  grads = bn_ops.tf_bn_compat_fused_batch_norm_grad(
      dy, x, s, stat_a, stat_b, epsilon=case["epsilon"],
      data_format=case["data_format"], is_training=case["is_training"])
  assert grads[0].shape == x.shape and grads[1].shape == s.shape
