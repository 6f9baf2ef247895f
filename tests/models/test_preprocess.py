"""Tests for pipeline.models.preprocess: values per mode, extra bands, serialisation."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline.errors import ConfigError
from pipeline.models import ImagenetPreprocess

# One pixel: R=255, G=0, B=127.5, then four extra bands.
RGB = [255.0, 0.0, 127.5]
EXTRA = [255.0, 0.0, 51.0, 204.0]


def _apply(mode: str, values: list[float]) -> np.ndarray:
    pixel = np.asarray(values, dtype="float32").reshape(1, 1, 1, -1)
    return keras.ops.convert_to_numpy(ImagenetPreprocess(mode)(pixel)).reshape(-1)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("tf", [1.0, -1.0, 0.0]),
        # BGR order, minus the caffe mean (103.939, 116.779, 123.68).
        ("caffe", [127.5 - 103.939, 0.0 - 116.779, 255.0 - 123.68]),
        ("torch", [(1.0 - 0.485) / 0.229, (0.0 - 0.456) / 0.224, (0.5 - 0.406) / 0.225]),
        ("none", RGB),
    ],
)
def test_rgb_values_per_mode(mode: str, expected: list[float]) -> None:
    np.testing.assert_allclose(_apply(mode, RGB), expected, rtol=1e-6, atol=1e-5)


def test_modes_match_keras_preprocess_input() -> None:
    batch = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    for mode, keras_fn in [
        ("tf", keras.applications.mobilenet.preprocess_input),
        ("caffe", keras.applications.vgg16.preprocess_input),
        ("torch", keras.applications.densenet.preprocess_input),
    ]:
        ours = keras.ops.convert_to_numpy(ImagenetPreprocess(mode)(batch))
        np.testing.assert_allclose(ours, keras_fn(batch.copy()), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("mode", ["tf", "caffe", "torch"])
def test_extra_bands_are_scaled_like_tf(mode: str) -> None:
    out = _apply(mode, RGB + EXTRA)
    assert out.shape == (7,)
    np.testing.assert_allclose(out[:3], _apply(mode, RGB), rtol=1e-6)
    np.testing.assert_allclose(out[3:], [1.0, -1.0, -0.6, 0.6], rtol=1e-6, atol=1e-6)


def test_none_mode_passes_every_band_unchanged() -> None:
    np.testing.assert_array_equal(_apply("none", RGB + EXTRA), RGB + EXTRA)


def test_unknown_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown mode 'imagenet'; choose one of: tf, caffe"):
        ImagenetPreprocess("imagenet")


def test_config_round_trip_through_keras_serialisation() -> None:
    layer = ImagenetPreprocess("caffe", name="prep")
    config = keras.saving.serialize_keras_object(layer)
    assert config["registered_name"] == "poverty_pipeline>ImagenetPreprocess"
    restored = keras.saving.deserialize_keras_object(config, safe_mode=True)
    assert isinstance(restored, ImagenetPreprocess)
    assert (restored.mode, restored.name) == ("caffe", "prep")
