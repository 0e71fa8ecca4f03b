"""A benchmark's worker: a Python of its own answering one line per request.

Benchmarks that compare our kernels with TensorFlow's run each in its own
process (in one that has used our op, our kernels also run TensorFlow's
FusedBatchNormV3), and have each worker time its own runs.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class WorkerProcess(object):
  """Runs `script args` with `env_updates`, the repository on PYTHONPATH.

  The worker prints one line when it is ready, then one answer line per
  request line.
  """

  def __init__(self, script, args, env_updates):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.update(env_updates)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (ROOT, env.get("PYTHONPATH")) if p)
    self._proc = subprocess.Popen(
        [sys.executable, os.path.abspath(script)] + list(args),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    self.ready_line = self._read()

  def _read(self):
    line = self._proc.stdout.readline()
    if not line:
      raise RuntimeError("a benchmark worker exited")
    return line.strip()

  def ask(self, line):
    """Sends one request line; returns the answer line."""
    self._proc.stdin.write(line + "\n")
    self._proc.stdin.flush()
    return self._read()

  def close(self):
    self._proc.stdin.close()
    self._proc.wait()
