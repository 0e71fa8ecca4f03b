"""Whether the automatic backend may run our CUDA kernels on this machine.

Our CUDA kernels are used by default only on GPUs whose compute capability
has passed a recorded check against cuDNN (`benchmarks/cuda_vs_torch.py`,
results in BENCHMARKS.md). On any other GPU the automatic backend runs
TensorFlow's own op and says so once; `TF_BN_COMPAT_BACKEND=custom` opts in.
"""

import tensorflow as tf

# Compute capabilities (major, minor) on which the CUDA kernels matched
# float64 and cuDNN and were timed. None has been checked yet.
VERIFIED_COMPUTE_CAPABILITIES = frozenset()


def visible_gpu_capabilities():
  """The compute capabilities of the GPUs TensorFlow sees, e.g. [(9, 0)].

  A GPU whose capability TensorFlow does not report counts as (0, 0), which
  is never verified.
  """
  capabilities = []
  for device in tf.config.list_physical_devices("GPU"):
    details = tf.config.experimental.get_device_details(device)
    capabilities.append(tuple(details.get("compute_capability") or (0, 0)))
  return capabilities


def unverified_gpu_reason(capabilities, verified=None):
  """Why the automatic backend must not use our CUDA kernels, or None.

  Args:
    capabilities: Compute capabilities of the visible GPUs, as from
      `visible_gpu_capabilities()`.
    verified: The capabilities on which the CUDA kernels passed the check;
      None reads `VERIFIED_COMPUTE_CAPABILITIES` now.

  Returns:
    None when every visible GPU is verified (or there is none), else a
    one-line explanation naming the unverified capabilities.
  """
  if verified is None:
    verified = VERIFIED_COMPUTE_CAPABILITIES
  unverified = sorted(set(tuple(c) for c in capabilities) - set(verified))
  if not unverified:
    return None
  names = ", ".join("%d.%d" % c for c in unverified)
  return ("its CUDA kernels are not yet verified against cuDNN on GPUs of "
          "compute capability %s, so the fused path runs on TensorFlow's "
          "FusedBatchNormV3; set TF_BN_COMPAT_BACKEND=custom to use them "
          "anyway" % names)
