"""Fixtures of the Estimator tests: TensorFlow's INFO log, captured."""

import logging

import pytest
import tensorflow as tf


class _Lines(logging.Handler):

  def __init__(self):
    super().__init__(logging.INFO)
    self.lines = []

  def emit(self, record):
    self.lines.append(record.getMessage())


@pytest.fixture
def tf_log():
  """The messages TensorFlow logs at INFO and above during the test."""
  logger = tf.get_logger()
  handler = _Lines()
  level = logger.level
  logger.setLevel(logging.INFO)
  logger.addHandler(handler)
  try:
    yield handler.lines
  finally:
    logger.removeHandler(handler)
    logger.setLevel(level)
