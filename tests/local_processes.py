"""Child processes that tests start together: free ports, bounded waits.

Used by the tests whose children form a cluster on 127.0.0.1 (workers of a
MultiWorkerMirroredStrategy, an Estimator's TF_CONFIG tasks).
"""

import socket
import subprocess


def free_ports(n):
  """`n` distinct TCP ports free on 127.0.0.1 right now."""
  sockets = [socket.socket() for _ in range(n)]
  try:
    for s in sockets:
      s.bind(("127.0.0.1", 0))
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


class ProcessGroup(object):
  """Processes started at once, each waited for at most `timeout_s`.

  A wait that times out kills the whole group (a cluster's other members
  would wait for the lost one); `kill()` ends whatever still runs.
  """

  def __init__(self, commands, env, cwd, timeout_s):
    self.timeout_s = timeout_s
    self.procs = [subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True) for command in commands]
    self.errors = {}

  def wait(self, index):
    """(exit code, stderr) of process `index`; kills all on a timeout."""
    proc = self.procs[index]
    if index not in self.errors:
      try:
        self.errors[index] = proc.communicate(timeout=self.timeout_s)[1]
      except subprocess.TimeoutExpired:
        self.kill()
        self.errors[index] = "timed out after %d s" % self.timeout_s
    return proc.returncode, self.errors[index]

  def kill(self):
    for proc in self.procs:
      if proc.poll() is None:
        proc.kill()
        proc.communicate()
