"""Running TF1 model code inside TF2 objects, for a step-by-step migration.

* `track_tf1_style_variables`: decorate a method of a `tf.Module` or a
  Keras 3 layer or model; the TF1 code inside (`get_variable`,
  `variable_scope`, TF1 layers) runs eagerly and in `tf.function`, and its
  variables, named by their TF1 names, belong to the object.
* `tf1_style_variables(obj)`: those variables by TF1 name.
* `save_tf1_checkpoint` / `restore_tf1_checkpoint`: checkpoints that TF1
  graph code's `tf.compat.v1.train.Saver` writes and reads.
* `regularization_losses(obj)`: the losses of the TF1 code.
"""

from tf_bn_compat.migrate.checkpoints import restore_tf1_checkpoint
from tf_bn_compat.migrate.checkpoints import save_tf1_checkpoint
from tf_bn_compat.migrate.checkpoints import tf1_style_variables
from tf_bn_compat.migrate.decorator import regularization_losses
from tf_bn_compat.migrate.decorator import track_tf1_style_variables

__all__ = [
    "regularization_losses",
    "restore_tf1_checkpoint",
    "save_tf1_checkpoint",
    "tf1_style_variables",
    "track_tf1_style_variables",
]
