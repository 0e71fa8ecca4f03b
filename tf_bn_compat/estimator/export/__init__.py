"""`tf.estimator.export`: serving input receivers and export outputs.

`rewrite_for_serving(export_dir)` (this package's) makes an exported
SavedModel's serving graph free of this package's op (see
`tf_bn_compat.estimator.exporting`).
"""

from tf_bn_compat.estimator.export.outputs import ClassificationOutput
from tf_bn_compat.estimator.export.outputs import EvalOutput
from tf_bn_compat.estimator.export.outputs import ExportOutput
from tf_bn_compat.estimator.export.outputs import PredictOutput
from tf_bn_compat.estimator.export.outputs import RegressionOutput
from tf_bn_compat.estimator.export.outputs import TrainOutput
from tf_bn_compat.estimator.export.receivers import build_parsing_serving_input_receiver_fn
from tf_bn_compat.estimator.export.receivers import build_raw_serving_input_receiver_fn
from tf_bn_compat.estimator.export.receivers import build_raw_supervised_input_receiver_fn
from tf_bn_compat.estimator.export.receivers import ServingInputReceiver
from tf_bn_compat.estimator.export.receivers import SupervisedInputReceiver
from tf_bn_compat.estimator.export.receivers import TensorServingInputReceiver


def rewrite_for_serving(export_dir):
  """Makes an exported SavedModel's serving graph stock TensorFlow only."""
  from tf_bn_compat.estimator import exporting  # pylint: disable=g-import-not-at-top
  return exporting.rewrite_for_serving(export_dir)

__all__ = [
    "ClassificationOutput", "EvalOutput", "ExportOutput", "PredictOutput",
    "RegressionOutput", "ServingInputReceiver", "TensorServingInputReceiver",
    "build_parsing_serving_input_receiver_fn",
    "build_raw_serving_input_receiver_fn", "rewrite_for_serving",
]
