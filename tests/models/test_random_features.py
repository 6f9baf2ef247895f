"""MOSAIKS-style random convolutional features against a direct convolution."""

import tracemalloc

import numpy as np
import pytest

from pipeline.models.random_features import (
    BIAS,
    image_patches,
    make_filters,
    random_features,
    sample_patches,
    whitening,
)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, size=(12, 16, 16, 3))
    base[:6] = np.clip(base[:6] // 4 + 100, 0, 255)  # two kinds of texture
    return base.astype(np.uint8)


def test_features_equal_a_direct_convolution(images):
    filters = make_filters(images, n_filters=5, patch_px=3, whiten=True, seed=1)
    out = random_features(images[:2], filters)
    assert out.shape == (2, 10) and out.dtype == np.float32
    x = images[1].astype(np.float64) / 255.0
    conv = np.zeros((14, 14, 5))
    for r in range(14):
        for c in range(14):
            patch = np.transpose(x[r:r + 3, c:c + 3], (2, 0, 1)).ravel()  # (band, row, col)
            conv[r, c] = patch @ filters.weights - filters.offset
    expected = np.concatenate([np.maximum(conv - BIAS, 0).mean(axis=(0, 1)),
                               np.maximum(-conv - BIAS, 0).mean(axis=(0, 1))])
    np.testing.assert_allclose(out[1], expected, rtol=1e-4, atol=1e-5)


def test_whitening_makes_patch_covariance_near_identity(images):
    patches = sample_patches(images, 5000, 3, np.random.default_rng(2))
    mean, w = whitening(patches, whiten=True)
    cov = np.cov((patches - mean) @ w, rowvar=False)
    assert np.abs(np.diag(cov) - 1).max() < 0.05
    assert np.abs(cov - np.diag(np.diag(cov))).max() < 0.05
    _, scale_only = whitening(patches, whiten=False)
    assert np.count_nonzero(scale_only - np.diag(np.diag(scale_only))) == 0


def test_filters_are_seeded_and_features_tell_textures_apart(images):
    a = make_filters(images, 16, 3, True, seed=4)
    b = make_filters(images, 16, 3, True, seed=4)
    np.testing.assert_array_equal(a.weights, b.weights)
    feats = random_features(images, a)
    assert (feats >= 0).all() and feats.shape == (12, 32)
    within = np.linalg.norm(feats[0] - feats[1])
    between = np.linalg.norm(feats[0] - feats[6])
    assert between > within


def test_patches_flatten_band_row_col(images):
    patches = image_patches(images[:1], 2)
    assert patches.shape == (1, 15 * 15, 12)
    np.testing.assert_allclose(patches[0, 0, :4], images[0, :2, :2, 0].ravel() / 255.0, rtol=1e-6)


def test_sampled_patches_are_the_drawn_ones_without_building_every_patch():
    images = np.random.default_rng(5).integers(0, 256, size=(40, 64, 64, 3)).astype(np.uint8)
    all_patches = image_patches(images, 3)  # 40 x 62*62 x 27 float32: 16.6 MB
    draws = np.random.default_rng(6)
    which, where = draws.integers(0, 40, 500), draws.integers(0, 62 * 62, 500)
    tracemalloc.start()
    got = sample_patches(images, 500, 3, np.random.default_rng(6))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(got, all_patches[which, where].astype(np.float64))
    assert peak < all_patches.nbytes / 20  # about the 500 patches drawn (108 kB), not all of them
