"""Pooling layers against TF1's own, over layouts, paddings and windows.

Outputs and input gradients are compared (layer_parity), float32 to 1e-5
(the same TF ops run in the same layouts on both sides).
"""

import pytest

import layer_parity

SPATIAL = {1: (7,), 2: (6, 5), 3: (5, 4, 5)}
# Channels-first inputs get other sizes than channels-last ones: with oneDNN,
# TF 2.15 computes a wrong max-pool gradient for an NCHW input after an NHWC
# one of the same logical shape (N, C, H, W) ran in the process, or the other
# way round (a TF bug, fixed by 2.21), when the window leaves a remainder.
SPATIAL_FIRST = {1: (8,), 2: (5, 6), 3: (4, 5, 6)}
CHANNELS = 3
POOLS = [("MaxPooling", "max_pooling"), ("AveragePooling", "average_pooling")]
WINDOWS = [("p2s2", 2, 2), ("p3s1", 3, 1), ("p2x3s1x2", None, None)]


def input_shape(rank, data_format):
  if data_format == "channels_first":
    return (2, CHANNELS) + SPATIAL_FIRST[rank]
  return (2,) + SPATIAL[rank] + (CHANNELS,)


def window(window_id, rank, pool_size, strides):
  if window_id == "p2x3s1x2":
    return (2, 3, 2)[:rank], (1, 2, 1)[:rank]
  return pool_size, strides


def grid():
  for class_prefix, _ in POOLS:
    for rank in (1, 2, 3):
      for data_format in ("channels_last", "channels_first"):
        for padding in ("valid", "same"):
          for window_id, pool_size, strides in WINDOWS:
            yield pytest.param(
                "%s%dD" % (class_prefix, rank), rank, data_format, padding,
                window(window_id, rank, pool_size, strides),
                id="%s%dD-%s-%s-%s" % (class_prefix, rank, data_format,
                                       padding, window_id))


@pytest.mark.parametrize("class_name,rank,data_format,padding,pool", list(grid()))
def test_layer_matches_tf1(class_name, rank, data_format, padding, pool):
  pool_size, strides = pool

  def build(m, x):
    layer = getattr(m, class_name)(pool_size, strides, padding=padding,
                                   data_format=data_format)
    return layer(x), layer

  layer_parity.compare(build, [input_shape(rank, data_format)],
                       channels_first=data_format == "channels_first")


# TF's CPU kernels of 3-D pooling take float32 only.
@pytest.mark.parametrize("rank,dtype", [
    (1, "float16"), (1, "float64"), (2, "float16"), (2, "float64"),
    (3, "float32")])
@pytest.mark.parametrize("function_prefix", [p for _, p in POOLS])
def test_functional_form_and_dtypes_match_tf1(rank, function_prefix, dtype):
  def build(m, x):
    return getattr(m, "%s%dd" % (function_prefix, rank))(
        x, 2, 1, padding="SAME", name="pool")

  record = layer_parity.compare(build, [input_shape(rank, "channels_last")],
                                dtype=dtype)
  assert record["output_dtype"] == dtype


def test_unknown_dimensions():
  def build(m, x):
    return m.max_pooling2d(x, 2, 2)

  record = layer_parity.compare(build, [(2, 6, 5, 3)],
                                static_shapes=[(None, None, 5, 3)])
  assert record["output_shape"] == [None, None, 2, 3]


def test_aliases_are_tf1s():
  m = layer_parity.ours()
  assert m.MaxPool2D is m.MaxPooling2D and m.AvgPool2D is m.AveragePooling2D
  assert m.max_pool2d is m.max_pooling2d
  assert m.avg_pool2d is m.average_pooling2d
