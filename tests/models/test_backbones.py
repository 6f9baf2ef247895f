"""Tests for pipeline.models.backbones: registry, Keras weight file names, EfficientNet stem."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest
from keras.src.utils import file_utils

from pipeline.errors import ConfigError
from pipeline.models import BACKBONES, get_backbone

EXPECTED_KEYS = {
    "mobilenet_0.25", "mobilenet_0.5", "mobilenet_1.0", "mobilenet_v2_1.0", "resnet50", "vgg16",
    "efficientnet_b0", "efficientnet_b3", "convnext_tiny",
}


class _Requested(Exception):
    """Raised by the patched ``get_file`` to capture what Keras asked for."""

    def __init__(self, fname: str, origin: str) -> None:
        super().__init__(fname)
        self.fname, self.origin = fname, origin


def _keras_request(monkeypatch: pytest.MonkeyPatch, name: str, input_px: int) -> _Requested:
    """The (file name, URL) keras.applications requests for ``weights="imagenet"``."""

    def fake_get_file(fname: str, origin: str, **kwargs: object) -> str:
        raise _Requested(fname, origin)

    monkeypatch.setattr(file_utils, "get_file", fake_get_file)
    with warnings.catch_warnings(), pytest.raises(_Requested) as caught:
        warnings.simplefilter("ignore")
        get_backbone(name).factory((input_px, input_px, 3), "imagenet", None)
    return caught.value


def test_registry_has_exactly_the_documented_backbones() -> None:
    assert set(BACKBONES) == EXPECTED_KEYS
    assert all(spec.name == key for key, spec in BACKBONES.items())
    assert all(spec.min_input_px == 32 for spec in BACKBONES.values())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "input_px"),
    [(name, 32) for name in sorted(EXPECTED_KEYS)]
    + [("mobilenet_0.25", 128), ("mobilenet_1.0", 192), ("mobilenet_v2_1.0", 96)],
)
def test_weights_name_and_url_equal_what_keras_requests(
    monkeypatch: pytest.MonkeyPatch, name: str, input_px: int
) -> None:
    request = _keras_request(monkeypatch, name, input_px)
    spec = get_backbone(name)
    assert spec.weights_filename(input_px) == request.fname
    assert spec.weights_url(input_px) == request.origin


def test_weights_names_match_literals_from_keras_source() -> None:
    assert get_backbone("mobilenet_0.25").weights_filename(64) == "mobilenet_2_5_224_tf_no_top.h5"
    assert get_backbone("mobilenet_0.5").weights_filename(160) == "mobilenet_5_0_160_tf_no_top.h5"
    assert get_backbone("mobilenet_0.25").weights_url(224) == (
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
        "mobilenet_2_5_224_tf_no_top.h5"
    )
    assert get_backbone("vgg16").weights_url(224) == (
        "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    )
    assert get_backbone("resnet50").weights_filename(224) == (
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    )
    assert get_backbone("mobilenet_v2_1.0").weights_filename(50) == (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    )
    assert get_backbone("efficientnet_b3").weights_url(300) == (
        "https://storage.googleapis.com/keras-applications/efficientnetb3_notop.h5"
    )


def test_preprocessing_modes() -> None:
    modes = {name: spec.preprocessing for name, spec in BACKBONES.items()}
    assert modes == {
        "mobilenet_0.25": "tf", "mobilenet_0.5": "tf", "mobilenet_1.0": "tf",
        "mobilenet_v2_1.0": "tf", "resnet50": "caffe", "vgg16": "caffe",
        "efficientnet_b0": "none", "efficientnet_b3": "none", "convnext_tiny": "torch",
    }


def test_unknown_backbone_lists_choices_and_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"model\.backbone: unknown 'vgg61'; choose one of: "
                       r"mobilenet_0\.25, .*convnext_tiny\. Did you mean 'vgg16'\?"):
        get_backbone("vgg61")


def test_unknown_backbone_far_from_any_name_has_no_suggestion() -> None:
    with pytest.raises(ConfigError, match="unknown 'alexnet'") as caught:
        get_backbone("alexnet")
    assert "Did you mean" not in str(caught.value)


@pytest.mark.slow
def test_efficientnet_from_a_file_computes_what_keras_imagenet_graph_computes(
    monkeypatch: pytest.MonkeyPatch, make_fake_weights: Callable[[str], Path]
) -> None:
    path = make_fake_weights("efficientnet_b0")
    ours = get_backbone("efficientnet_b0").factory((32, 32, 3), path, None)
    monkeypatch.setattr(file_utils, "get_file", lambda *args, **kwargs: str(path))
    reference = keras.applications.EfficientNetB0(
        include_top=False, weights="imagenet", input_shape=(32, 32, 3)
    )
    plain = keras.applications.EfficientNetB0(
        include_top=False, weights=str(path), input_shape=(32, 32, 3)
    )
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    stem = [_stem_output(model, pixels) for model in (ours, reference, plain)]
    np.testing.assert_allclose(stem[0], stem[1], rtol=1e-5, atol=1e-5)
    assert not np.allclose(stem[2], stem[1], rtol=1e-2, atol=1e-2)  # keras' own path-load differs


def _stem_output(model: keras.Model, pixels: np.ndarray) -> np.ndarray:
    stem = keras.Model(model.input, model.get_layer("stem_conv").output)
    return keras.ops.convert_to_numpy(stem(pixels))
