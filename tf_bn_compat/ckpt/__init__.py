"""`python -m tf_bn_compat.ckpt`: inspect and diff TF1 checkpoints.

`inspect CKPT` lists the batch normalization variable groups a checkpoint
holds; `diff CKPT --graph_fn=module:function` compares the variables a graph
expects with the checkpoint. See `tf_bn_compat.ckpt.__main__` for the command
line and the exit statuses.
"""

from tf_bn_compat.ckpt.diff import diff_checkpoint
from tf_bn_compat.ckpt.diff import graph_variables
from tf_bn_compat.ckpt.groups import find_groups
from tf_bn_compat.ckpt.inspect import inspect_checkpoint
from tf_bn_compat.ckpt.reader import CheckpointError
from tf_bn_compat.ckpt.reader import read_variables

__all__ = ["CheckpointError", "diff_checkpoint", "find_groups",
           "graph_variables", "inspect_checkpoint", "read_variables"]
