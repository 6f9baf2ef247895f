"""Tests for pipeline.models.upsampled_stem: the folded stem equals upsampling, then the stem."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from pipeline.models import backbone_layer, build_classifier, feature_model, get_backbone
from pipeline.models.upsampled_stem import UpsampledStemConv, fold_upsampling, foldable_stem


def _upsample_then_stem(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    side = x.shape[1]
    up = tf.image.resize(x, (2 * side, 2 * side))  # bilinear, half-pixel centres
    out = tf.nn.conv2d(up, kernel, 2, "SAME")
    return (out if bias is None else out + bias).numpy()


@pytest.mark.parametrize(("side", "channels", "use_bias"), [(16, 3, False), (7, 5, True)])
def test_folded_stem_equals_upsampling_then_stride_two_conv_border_included(
    side: int, channels: int, use_bias: bool
) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, side, side, channels)).astype("float32")
    layer = UpsampledStemConv(4, use_bias=use_bias)
    layer.build(x.shape)
    kernel = rng.normal(size=(3, 3, channels, 4)).astype("float32")
    bias = rng.normal(size=4).astype("float32") if use_bias else None
    layer.set_weights([kernel] if bias is None else [kernel, bias])

    out = layer(x).numpy()
    expected = _upsample_then_stem(x, kernel, bias)

    assert out.shape == expected.shape == (3, side, side, 4)
    np.testing.assert_allclose(out, expected, atol=1e-4)
    # the border is a real case: padding the upsampled tiles by their edge instead of zeros
    # (what folding without the correction computes) changes only the last row and column
    up = tf.image.resize(x, (2 * side, 2 * side))
    edged = tf.nn.conv2d(tf.pad(up, [[0, 0], [0, 1], [0, 1], [0, 0]], "SYMMETRIC"), kernel, 2,
                         "VALID").numpy() + (0 if bias is None else bias)
    np.testing.assert_allclose(edged[:, :-1, :-1], expected[:, :-1, :-1], atol=1e-4)
    assert np.abs(edged - expected)[:, -1].max() > 0.1
    assert np.abs(edged - expected)[:, :, -1].max() > 0.1


def test_fine_tuning_the_folded_stem_gets_the_unfolded_gradient() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    weight = rng.normal(size=(2, 8, 8, 4)).astype("float32")
    kernel = tf.Variable(rng.normal(size=(3, 3, 3, 4)).astype("float32"))
    layer = UpsampledStemConv(4)
    layer.build(x.shape)

    with tf.GradientTape() as tape:
        unfolded = tf.reduce_sum(weight * tf.nn.conv2d(tf.image.resize(x, (16, 16)), kernel, 2,
                                                       "SAME"))
    expected = tape.gradient(unfolded, kernel).numpy()
    layer.kernel.assign(kernel)
    with tf.GradientTape() as tape:
        folded = tf.reduce_sum(weight * layer(x))
    np.testing.assert_allclose(tape.gradient(folded, layer.kernel).numpy(), expected, atol=1e-4)


@pytest.mark.slow
def test_folded_mobilenet_gives_the_features_of_the_upsampled_tiles() -> None:
    keras.utils.set_random_seed(0)
    backbone = keras.applications.MobileNet((64, 64, 3), alpha=0.25, include_top=False,
                                            weights=None)
    folded = fold_upsampling(backbone, 32)
    x = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")

    expected = backbone(tf.image.resize(x, (64, 64)), training=False).numpy()
    out = folded(x, training=False).numpy()

    assert folded.inputs[0].shape[1:] == (32, 32, 3)
    assert [layer.name for layer in folded.layers] == [layer.name for layer in backbone.layers]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_stems_that_cannot_absorb_an_upsampling_are_not_folded() -> None:
    pixels = keras.Input((32, 32, 3))
    strided = keras.Model(pixels, keras.layers.Conv2D(4, 3, strides=2, padding="same")(pixels))
    padded_first = keras.Model(pixels, keras.layers.Conv2D(4, 3, strides=2)(
        keras.layers.ZeroPadding2D(1)(pixels)))
    stride_one = keras.Model(pixels, keras.layers.Conv2D(4, 3, padding="same")(pixels))

    assert foldable_stem(strided) is strided.layers[1]
    assert foldable_stem(padded_first) is None
    assert foldable_stem(stride_one) is None
    with pytest.raises(ValueError, match="cannot take 8 px tiles"):
        fold_upsampling(strided, 8)  # 32 px input, not 16


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_0.25", "mobilenet_v2_1.0"])
def test_registry_flag_matches_the_architecture(name: str) -> None:
    spec = get_backbone(name)
    backbone = spec.factory((64, 64, 3), None)

    assert spec.folds_upsampling
    assert foldable_stem(backbone) is not None
    assert spec.fed_px(64, 32) == 32 and spec.fed_px(64, 64) == 64 and spec.fed_px(96, 32) == 96
    assert get_backbone("resnet50").fed_px(64, 32) == 64


@pytest.mark.slow
def test_classifier_on_half_size_tiles_takes_them_and_survives_safe_mode(tmp_path: Path) -> None:
    folded = build_classifier("mobilenet_0.25", 64, 4, 3, None, seed=0, tile_px=32)
    plain = build_classifier("mobilenet_0.25", 64, 4, 3, None, seed=0)
    plain.set_weights(folded.get_weights())  # the same variables, in the same order
    x = np.random.default_rng(2).uniform(0, 255, (2, 32, 32, 4)).astype("float32")
    path = tmp_path / "model.keras"
    folded.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)

    expected = feature_model(plain)(tf.image.resize(x, (64, 64))).numpy()
    assert loaded.inputs[0].shape[1:] == (32, 32, 4)
    assert isinstance(backbone_layer(loaded).layers[1], UpsampledStemConv)
    np.testing.assert_allclose(feature_model(loaded)(x).numpy(), expected, rtol=1e-4,
                               atol=1e-4 * np.abs(expected).max())


@pytest.mark.slow
def test_folded_classifier_runs_under_mixed_precision(make_fake_weights) -> None:  # noqa: ANN001
    """The policy the train stage sets on a GPU: float16 compute, float32 variables."""
    weights = make_fake_weights("mobilenet_0.25")  # features of a usable scale for float16
    x = np.random.default_rng(4).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    plain = build_classifier("mobilenet_0.25", 64, 3, 3, weights, seed=0)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        folded = build_classifier("mobilenet_0.25", 64, 3, 3, weights, seed=0, tile_px=32)
    finally:
        keras.mixed_precision.set_global_policy("float32")

    expected = feature_model(plain)(tf.image.resize(x, (64, 64))).numpy()
    out = feature_model(folded)(x)

    assert out.dtype == tf.float16
    assert np.abs(expected).max() > 0.1  # far from float16's underflow
    np.testing.assert_allclose(out.numpy().astype("float32"), expected, rtol=0.05,
                               atol=0.01 * np.abs(expected).max())
