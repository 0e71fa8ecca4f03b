"""`tf.estimator.export`: serving input receivers and export outputs."""

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

__all__ = [
    "ClassificationOutput", "EvalOutput", "ExportOutput", "PredictOutput",
    "RegressionOutput", "ServingInputReceiver", "TensorServingInputReceiver",
    "build_parsing_serving_input_receiver_fn",
    "build_raw_serving_input_receiver_fn",
]
