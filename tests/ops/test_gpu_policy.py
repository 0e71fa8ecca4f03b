"""The automatic backend keeps our CUDA kernels off unverified GPUs."""

import pytest
import tensorflow as tf

from tf_bn_compat.ops import _gpu_policy
from tf_bn_compat.ops import _library


@pytest.mark.parametrize("capabilities,verified,expected", [
    ([], frozenset(), None),
    ([(9, 0)], frozenset(), "9.0"),
    ([(9, 0)], frozenset({(9, 0)}), None),
    ([(9, 0), (8, 0)], frozenset({(9, 0)}), "8.0"),
    ([(0, 0)], frozenset({(9, 0)}), "0.0"),
])
def test_unverified_gpu_reason(capabilities, verified, expected):
  reason = _gpu_policy.unverified_gpu_reason(capabilities, verified)
  if expected is None:
    assert reason is None
  else:
    assert "compute capability " + expected in reason
    assert "TF_BN_COMPAT_BACKEND=custom" in reason


def test_verified_list_holds_compute_capabilities():
  for capability in _gpu_policy.VERIFIED_COMPUTE_CAPABILITIES:
    assert isinstance(capability, tuple) and len(capability) == 2, capability
    assert all(isinstance(part, int) for part in capability), capability


@pytest.fixture
def fresh_gpu_state(monkeypatch):
  """The loader as at process start (the GPUs not checked yet), and after."""
  monkeypatch.delenv(_library.BACKEND_ENV, raising=False)
  _library.STATE.reset()
  yield
  _library.STATE.reset()


@pytest.mark.usefixtures("fresh_gpu_state")
def test_auto_backend_uses_tf_op_on_unverified_gpu(monkeypatch):
  assert _library.load_library() is not None, _library.load_error()
  monkeypatch.setattr(_gpu_policy, "visible_gpu_capabilities",
                      lambda: [(9, 0)])
  logged = []
  monkeypatch.setattr(tf.compat.v1.logging, "warning", logged.append)
  assert _library.backend() == "tf"
  assert _library.backend() == "tf"
  assert len(logged) == 1 and "compute capability 9.0" in logged[0]
  monkeypatch.setenv(_library.BACKEND_ENV, "custom")
  assert _library.backend() == "custom"


@pytest.mark.usefixtures("fresh_gpu_state")
def test_auto_backend_uses_our_op_without_gpu(monkeypatch):
  assert _library.load_library() is not None, _library.load_error()
  monkeypatch.setattr(_gpu_policy, "visible_gpu_capabilities", lambda: [])
  assert _library.backend() == "custom"


@pytest.mark.usefixtures("fresh_gpu_state")
@pytest.mark.parametrize("verified,expected", [
    (frozenset({(9, 0)}), "custom"),
    (frozenset({(8, 0), (9, 0)}), "custom"),
    (frozenset({(8, 0)}), "tf"),
    (frozenset(), "tf"),
])
def test_auto_backend_follows_the_verified_list(monkeypatch, verified,
                                                expected):
  """A GPU whose capability is listed runs our kernels; any other, TF's."""
  assert _library.load_library() is not None, _library.load_error()
  monkeypatch.setattr(_gpu_policy, "VERIFIED_COMPUTE_CAPABILITIES", verified)
  monkeypatch.setattr(_gpu_policy, "visible_gpu_capabilities",
                      lambda: [(9, 0)])
  assert _library.backend() == expected
