"""`tf.estimator` for `model_fn` pipelines, on TF1's public training APIs.

TensorFlow 2.16+ has no `tf.estimator`; this package rebuilds the API of
TensorFlow 2.15's for `model_fn` pipelines (canned estimators and TPU
aside) on what `tf.compat.v1` still has:
`MonitoredTrainingSession`, `Scaffold`, the session hooks, `Saver`,
`warm_start`, `metrics`, `saved_model.Builder`. The model directory and
SavedModels are the ones TF's Estimator writes, so either reads the other's.

`tf_bn_compat.patch_tf()` installs it as `tf.estimator` and
`tf.compat.v1.estimator` where TensorFlow has none.
"""

from tf_bn_compat.estimator import experimental
from tf_bn_compat.estimator import export
from tf_bn_compat.estimator import inputs
from tf_bn_compat.estimator.estimator import add_metrics
from tf_bn_compat.estimator.estimator import Estimator
from tf_bn_compat.estimator.estimator_spec import EstimatorSpec
from tf_bn_compat.estimator.exporters import BestExporter
from tf_bn_compat.estimator.exporters import Exporter
from tf_bn_compat.estimator.exporters import FinalExporter
from tf_bn_compat.estimator.exporters import LatestExporter
from tf_bn_compat.estimator.hooks import CheckpointSaverHook
from tf_bn_compat.estimator.hooks import CheckpointSaverListener
from tf_bn_compat.estimator.hooks import FeedFnHook
from tf_bn_compat.estimator.hooks import FinalOpsHook
from tf_bn_compat.estimator.hooks import GlobalStepWaiterHook
from tf_bn_compat.estimator.hooks import LoggingTensorHook
from tf_bn_compat.estimator.hooks import NanLossDuringTrainingError
from tf_bn_compat.estimator.hooks import NanTensorHook
from tf_bn_compat.estimator.hooks import ProfilerHook
from tf_bn_compat.estimator.hooks import SecondOrStepTimer
from tf_bn_compat.estimator.hooks import SessionRunArgs
from tf_bn_compat.estimator.hooks import SessionRunContext
from tf_bn_compat.estimator.hooks import SessionRunHook
from tf_bn_compat.estimator.hooks import SessionRunValues
from tf_bn_compat.estimator.hooks import StepCounterHook
from tf_bn_compat.estimator.hooks import StopAtStepHook
from tf_bn_compat.estimator.hooks import SummarySaverHook
from tf_bn_compat.estimator.mode_keys import ModeKeys
from tf_bn_compat.estimator.run_config import RunConfig
from tf_bn_compat.estimator.train_eval_loop import train_and_evaluate
from tf_bn_compat.estimator.training_specs import EvalSpec
from tf_bn_compat.estimator.training_specs import TrainSpec
from tf_bn_compat.estimator.warm_starting import VocabInfo
from tf_bn_compat.estimator.warm_starting import WarmStartSettings

__all__ = [
    "BestExporter", "EvalSpec", "Exporter", "FinalExporter",
    "LatestExporter", "TrainSpec", "train_and_evaluate",
    "CheckpointSaverHook", "CheckpointSaverListener", "Estimator",
    "EstimatorSpec", "FeedFnHook", "FinalOpsHook", "GlobalStepWaiterHook",
    "LoggingTensorHook", "ModeKeys", "NanLossDuringTrainingError",
    "NanTensorHook", "ProfilerHook", "RunConfig", "SecondOrStepTimer",
    "SessionRunArgs", "SessionRunContext", "SessionRunHook",
    "SessionRunValues", "StepCounterHook", "StopAtStepHook",
    "SummarySaverHook", "VocabInfo", "WarmStartSettings", "add_metrics",
    "experimental", "export", "inputs",
]
