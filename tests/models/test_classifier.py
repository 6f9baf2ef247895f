"""Tests for pipeline.models.classifier and .multiband: weights really load, bands, fine-tuning."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from pipeline.errors import ConfigError, InputDataError
from pipeline.models import (
    ImagenetPreprocess,
    backbone_layer,
    build_classifier,
    feature_dim,
    feature_model,
    set_backbone_trainable,
)

# The shared data folder sits next to the repository: <repo>/../shared/data/weights.
REAL_MOBILENET_H5 = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "weights"
    / "mobilenet_2_5_224_tf_no_top.h5"
)
needs_real_weights = pytest.mark.skipif(
    not REAL_MOBILENET_H5.is_file(),
    reason=f"real ImageNet weights not available at {REAL_MOBILENET_H5} (../shared next to repo)",
)


def _pixels(n_bands: int, px: int = 32, n: int = 2) -> np.ndarray:
    return np.random.default_rng(7).uniform(0, 255, (n, px, px, n_bands)).astype("float32")


def _kernel(model: keras.Model, layer: str) -> np.ndarray:
    return keras.ops.convert_to_numpy(backbone_layer(model).get_layer(layer).weights[0])


def _h5(path: Path, layer: str) -> np.ndarray:
    """A layer's first weight (the kernel) as stored in a legacy Keras h5 weights file."""
    with h5py.File(path, "r") as handle:
        names = handle[layer].attrs["weight_names"]
        first = names[0].decode() if isinstance(names[0], bytes) else str(names[0])
        return handle[layer][first][()]


@pytest.mark.slow
@needs_real_weights
def test_real_imagenet_weights_are_loaded() -> None:
    model = build_classifier("mobilenet_0.25", 64, 3, 3, REAL_MOBILENET_H5)
    np.testing.assert_array_equal(_kernel(model, "conv1"), _h5(REAL_MOBILENET_H5,
                                                              "conv1"))
    np.testing.assert_array_equal(_kernel(model, "conv_pw_13"),
                                  _h5(REAL_MOBILENET_H5, "conv_pw_13"))
    random = build_classifier("mobilenet_0.25", 64, 3, 3, None)
    assert not np.allclose(_kernel(random, "conv1"), _h5(REAL_MOBILENET_H5, "conv1"))
    assert model.predict(_pixels(3, 64), verbose=0).shape == (2, 3)


@pytest.mark.slow
@needs_real_weights
def test_real_imagenet_weights_seven_bands() -> None:
    model = build_classifier("mobilenet_0.25", 64, 7, 4, REAL_MOBILENET_H5)
    rgb = _h5(REAL_MOBILENET_H5, "conv1")
    kernel = _kernel(model, "conv1")
    np.testing.assert_allclose(kernel[:, :, :3], rgb * 3 / 7, rtol=1e-6)
    np.testing.assert_allclose(kernel[:, :, 3], rgb.mean(axis=2) * 3 / 7, rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_seven_bands_keep_rgb_filters_and_start_extra_bands_from_their_mean(
    make_fake_weights: Callable[[str], Path],
) -> None:
    path = make_fake_weights("mobilenet_0.25")
    model = build_classifier("mobilenet_0.25", 32, 7, 3, path)
    rgb = _h5(path, "conv1")
    kernel = _kernel(model, "conv1")
    assert kernel.shape == (3, 3, 7, 8)
    np.testing.assert_allclose(kernel[:, :, :3], rgb * 3 / 7, rtol=1e-6)
    for band in range(3, 7):
        np.testing.assert_allclose(kernel[:, :, band], rgb.mean(axis=2) * 3 / 7, rtol=1e-5,
                                   atol=1e-7)
    np.testing.assert_array_equal(_kernel(model, "conv_pw_13"),
                                  _h5(path, "conv_pw_13"))
    assert model.predict(_pixels(7), verbose=0).shape == (2, 3)


@pytest.mark.slow
def test_seven_band_efficientnet_extends_its_stem_normalisation(
    make_fake_weights: Callable[[str], Path],
) -> None:
    path = make_fake_weights("efficientnet_b0")
    rgb = build_classifier("efficientnet_b0", 32, 3, 3, path)
    model = build_classifier("efficientnet_b0", 32, 7, 3, path)
    norm_rgb, norm = (_normalization(m) for m in (rgb, model))
    np.testing.assert_allclose(norm["mean"][:3], norm_rgb["mean"], rtol=1e-6)
    np.testing.assert_allclose(norm["variance"][:3], norm_rgb["variance"], rtol=1e-6)
    np.testing.assert_allclose(norm["mean"][3:], 0.5)
    np.testing.assert_allclose(norm["variance"][3:], 0.25)
    np.testing.assert_allclose(_kernel(model, "stem_conv")[:, :, 5],
                               _kernel(rgb, "stem_conv").mean(axis=2) * 3 / 7, rtol=1e-5, atol=1e-7)
    # Extra bands at 0..255 reach the stem convolution as -1..1.
    pixels = np.zeros((1, 32, 32, 7), "float32")
    pixels[..., 3:] = [0.0, 255.0, 127.5, 51.0]
    stem = keras.Model(backbone_layer(model).input,
                       backbone_layer(model).get_layer("stem_conv_pad").output)
    np.testing.assert_allclose(stem(pixels)[0, 5, 5, 3:], [-1.0, 1.0, 0.0, -0.6], atol=1e-5)


def _normalization(model: keras.Model) -> dict[str, np.ndarray]:
    layer = next(l for l in backbone_layer(model).layers if isinstance(l, keras.layers.Normalization))
    return {var.name: keras.ops.convert_to_numpy(var).reshape(-1) for var in layer.weights}


@pytest.mark.slow
def test_graph_layers_and_features_equal_pooled_backbone_output() -> None:
    model = build_classifier("mobilenet_0.25", 32, 3, 5, None)
    assert model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, 5)
    assert feature_dim(model) == 256
    pixels = _pixels(3)
    trunk = backbone_layer(model)(ImagenetPreprocess("tf")(pixels), training=False)
    expected = keras.ops.convert_to_numpy(trunk).mean(axis=(1, 2))
    np.testing.assert_allclose(feature_model(model).predict(pixels, verbose=0), expected,
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.predict(pixels, verbose=0).sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_saved_model_reloads_in_safe_mode_with_identical_predictions(tmp_path: Path) -> None:
    model = build_classifier("mobilenet_0.25", 32, 4, 3, None, seed=3)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    pixels = _pixels(4)
    np.testing.assert_array_equal(restored.predict(pixels, verbose=0),
                                  model.predict(pixels, verbose=0))
    assert restored.get_layer("preprocess").mode == "tf"
    assert feature_dim(restored) == 256


@pytest.mark.slow
def test_frozen_backbone_has_no_trainable_weights() -> None:
    model = build_classifier("mobilenet_0.25", 32, 3, 3, None)
    assert set_backbone_trainable(model, 0) == 0
    assert backbone_layer(model).trainable_weights == []
    assert len(model.trainable_weights) == 2  # the output layer's kernel and bias


def test_unfreezing_top_layers_keeps_batchnorm_frozen() -> None:
    model = build_classifier("mobilenet_0.25", 32, 3, 3, None)
    trunk = backbone_layer(model)
    weighted = [l for l in trunk.layers if l.weights and not isinstance(l, _BN)]
    n_params = set_backbone_trainable(model, 4)
    trainable = [l.name for l in trunk.layers if l.trainable and l.weights]
    assert trainable == [l.name for l in weighted[-4:]]
    assert trainable == ["conv_dw_12", "conv_pw_12", "conv_dw_13", "conv_pw_13"]
    assert not any(l.trainable for l in trunk.layers if isinstance(l, _BN))
    assert n_params == sum(int(np.prod(w.shape)) for l in weighted[-4:] for w in l.weights)
    assert set_backbone_trainable(model, 0) == 0


_BN = keras.layers.BatchNormalization


def test_negative_layer_count_is_a_config_error() -> None:
    model = build_classifier("mobilenet_0.25", 32, 3, 3, None)
    with pytest.raises(ConfigError, match=r"model\.unfreeze_layers must be >= 0; got -1"):
        set_backbone_trainable(model, -1)


def test_input_smaller_than_the_backbone_allows_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"model\.input_size_px must be at least 32 .*got 16"):
        build_classifier("mobilenet_0.25", 16, 3, 3, None)


def test_unknown_backbone_and_too_few_bands_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="model.backbone: unknown 'vgg61'"):
        build_classifier("vgg61", 32, 3, 3, None)
    with pytest.raises(ConfigError, match="at least 3 bands"):
        build_classifier("mobilenet_0.25", 32, 2, 3, None)


@pytest.mark.slow
def test_weights_of_another_backbone_are_named_in_the_error(
    make_fake_weights: Callable[[str], Path],
) -> None:
    path = make_fake_weights("efficientnet_b0")
    with pytest.raises(InputDataError, match=r"efficientnet_b0_fake_notop\.h5: cannot load .*"
                       r"mobilenet_2_5_224_tf_no_top\.h5"):
        build_classifier("mobilenet_0.25", 32, 3, 3, path)


def test_model_not_built_here_is_reported() -> None:
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="other")
    with pytest.raises(InputDataError, match="model 'other' has no layer named 'backbone'"):
        backbone_layer(plain)
