"""`tf_bn_compat.estimator.inputs`: numpy_input_fn (and pandas_input_fn)."""

import numpy as np
import pytest
import tensorflow as tf

import estimator_models as models
from tf_bn_compat import estimator as est

# Estimators run eager ops (tf.data, saved_model loads); see tests/conftest.py.
pytestmark = pytest.mark.eager_context


def _batches(input_fn):
  """Every batch an input_fn yields, read in a MonitoredSession."""
  with tf.Graph().as_default():
    tensors = input_fn()
    batches = []
    with tf.compat.v1.train.MonitoredSession() as session:
      while not session.should_stop():
        batches.append(session.run(tensors))
  return batches


def test_numpy_input_fn_batches_in_order():
  x = {"a": np.arange(34, dtype=np.float32).reshape(17, 2),
       "b": np.arange(17)}
  y = np.arange(17) * 10
  batches = _batches(est.inputs.numpy_input_fn(x, y, batch_size=5,
                                               shuffle=False))
  assert [len(labels) for _, labels in batches] == [5, 5, 5, 2]
  features = {k: np.concatenate([f[k] for f, _ in batches]) for k in x}
  for key in x:
    np.testing.assert_array_equal(features[key], x[key])
  np.testing.assert_array_equal(np.concatenate([l for _, l in batches]), y)
  two_epochs = _batches(est.inputs.numpy_input_fn(
      np.arange(6.0), batch_size=4, num_epochs=2, shuffle=True))
  values = np.concatenate(two_epochs)  # An array x gives a tensor.
  assert sorted(values) == sorted(list(np.arange(6.0)) * 2)


@pytest.mark.parametrize("kwargs,message", [
    (dict(x={"a": np.ones(3)}, shuffle=None),
     "shuffle must be provided and explicitly set as boolean"),
    (dict(x={"a": np.ones(3)}, y={"a": np.ones(3)}, shuffle=False),
     "1 duplicate keys are found in both x and y"),
    (dict(x={"a": np.ones(3)}, y=np.ones(4), shuffle=False),
     "Length of tensors in x and y is mismatched."),
])
def test_numpy_input_fn_errors(kwargs, message):
  with pytest.raises(ValueError, match=message):
    est.inputs.numpy_input_fn(**kwargs)


def test_numpy_input_fn_trains_and_evaluates(tmp_path):
  x, y = models.make_data(64, seed=0)
  estimator = est.Estimator(models.make_model_fn(est),
                            model_dir=str(tmp_path),
                            config=models.run_config(est))
  estimator.train(est.inputs.numpy_input_fn({"x": x}, y, batch_size=8,
                                            num_epochs=None, shuffle=True),
                  steps=4)
  assert estimator.get_variable_value("global_step") == 4
  from_numpy = estimator.evaluate(est.inputs.numpy_input_fn(
      {"x": x}, y, batch_size=16, shuffle=False))
  from_dataset = estimator.evaluate(models.eval_input_fn(x, y))
  for key, value in from_dataset.items():
    np.testing.assert_allclose(from_numpy[key], value, rtol=1e-6)


def test_same_batches_as_native():
  native = getattr(tf.compat.v1, "estimator", None)
  if native is None or native is est:
    pytest.skip("TensorFlow %s has no tf.estimator of its own" %
                tf.__version__)
  x = {"a": np.arange(26, dtype=np.float32).reshape(13, 2)}
  y = np.arange(13)
  kwargs = dict(batch_size=4, num_epochs=2, shuffle=False)
  ours = _batches(est.inputs.numpy_input_fn(x, y, **kwargs))
  theirs = _batches(native.inputs.numpy_input_fn(x, y, **kwargs))
  assert len(ours) == len(theirs)
  for (f1, l1), (f2, l2) in zip(ours, theirs):
    assert sorted(f1) == sorted(f2)
    np.testing.assert_array_equal(f1["a"], f2["a"])
    np.testing.assert_array_equal(l1, l2)


def test_pandas_input_fn():
  pandas = pytest.importorskip("pandas")
  frame = pandas.DataFrame({"a": np.arange(5.0), "b": np.arange(5) * 2})
  batches = _batches(est.inputs.pandas_input_fn(
      frame, pandas.Series(np.arange(5)), batch_size=2, shuffle=False))
  np.testing.assert_array_equal(
      np.concatenate([f["b"] for f, _ in batches]), frame["b"].values)
