"""MOSAIKS-style random convolutional features (Rolf et al. 2021, *Nat. Commun.* 12:4392).

No training: ``n_filters`` filters are ``patch_px`` x ``patch_px`` x bands patches drawn at
random from the images themselves. Every image is convolved with every filter (stride 1, valid
padding) and, as in MOSAIKS, each filter gives two features: the spatial mean of
``ReLU(conv - b)`` and of ``ReLU(-conv - b)`` with bias ``b = 1``; so ``2 * n_filters`` features
per image.

Pixels are scaled to 0..1 and centred on the mean patch of a sample of the images. With
``whiten=True`` (the MOSAIKS / Coates & Ng recipe) both the filters and the image patches are
ZCA-whitened with the covariance of that sample (eigenvalues regularised by 1% of their mean);
with ``whiten=False`` each patch dimension is only divided by its standard deviation. Either way
responses are of order one, which is what the unit bias assumes. Because whitening is linear,
it is folded into one (patch_dim, n_filters) weight matrix and an offset, so featurising is a
single matrix product per batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BIAS = 1.0
ZCA_EPS_SHARE = 0.01
STAT_PATCHES = 20_000
CHUNK_IMAGES = 16


@dataclass(frozen=True)
class RandomFilters:
    """Filters folded with the whitening: ``response = patch @ weights - offset``.

    Attributes:
        weights: float32 (patch_px * patch_px * bands, n_filters), for raw patch vectors
            (pixels / 255, flattened in (band, row, col) order).
        offset: float32 (n_filters,), the response of the mean patch.
        patch_px: filter side in pixels.
    """

    weights: np.ndarray
    offset: np.ndarray
    patch_px: int

    @property
    def n_features(self) -> int:
        return 2 * self.weights.shape[1]


def image_patches(images: np.ndarray, patch_px: int) -> np.ndarray:
    """Every patch of every image as a flat vector.

    Args:
        images: (n, h, w, bands), any numeric dtype, 0..255.
        patch_px: patch side.

    Returns:
        float32 (n, (h - patch_px + 1) * (w - patch_px + 1), bands * patch_px**2), pixels / 255.
    """
    x = np.asarray(images, dtype=np.float32) / 255.0
    windows = np.lib.stride_tricks.sliding_window_view(x, (patch_px, patch_px), axis=(1, 2))
    n, rows, cols = windows.shape[:3]
    return windows.reshape(n, rows * cols, -1)


def sample_patches(images: np.ndarray, n: int, patch_px: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` patches drawn uniformly (image, position) from ``images``; float64 (n, patch_dim).

    The patches are those of :func:`image_patches` at the drawn (image, position) pairs, but
    only the drawn ones are copied: memory grows with ``n``, not with the number of images.
    """
    images = np.asarray(images)
    n_images, h, w = images.shape[:3]
    cols = w - patch_px + 1
    which = rng.integers(0, n_images, n)
    row, col = np.divmod(rng.integers(0, (h - patch_px + 1) * cols, n), cols)
    offsets = np.arange(patch_px)
    rows, cols_ = (row[:, None] + offsets)[:, :, None], (col[:, None] + offsets)[:, None, :]
    picked = images[which[:, None, None], rows, cols_].astype(np.float32) / 255.0  # (n, p, p, b)
    return picked.transpose(0, 3, 1, 2).reshape(n, -1).astype(np.float64)  # (band, row, col)


def whitening(patches: np.ndarray, whiten: bool) -> tuple[np.ndarray, np.ndarray]:
    """(mean, W): the mean patch and the symmetric whitening matrix of a patch sample."""
    mean = patches.mean(axis=0)
    centred = patches - mean
    if not whiten:
        return mean, np.diag(1.0 / np.maximum(centred.std(axis=0), 1e-6))
    values, vectors = np.linalg.eigh(np.cov(centred, rowvar=False))
    values = np.clip(values, 0.0, None) + ZCA_EPS_SHARE * max(float(values.mean()), 1e-12)
    return mean, (vectors / np.sqrt(values)) @ vectors.T


def make_filters(sample: np.ndarray, n_filters: int, patch_px: int, whiten: bool,
                 seed: int) -> RandomFilters:
    """Draw ``n_filters`` filters from a sample of images (uint8 (n, h, w, bands)).

    The whitening statistics come from up to 20,000 random patches of the same sample.
    """
    rng = np.random.default_rng(seed)
    stats = sample_patches(sample, STAT_PATCHES, patch_px, rng)
    mean, w = whitening(stats, whiten)
    drawn = sample_patches(sample, n_filters, patch_px, rng)
    filters = (drawn - mean) @ w  # whitened patches, (n_filters, patch_dim)
    weights = w @ filters.T  # image patches are whitened too: (p - mean) W . f
    return RandomFilters(weights.astype(np.float32), (mean @ weights).astype(np.float32), patch_px)


def random_features(images: np.ndarray, filters: RandomFilters) -> np.ndarray:
    """MOSAIKS features of a batch of images.

    Args:
        images: uint8 (n, h, w, bands), 0..255, the bands the filters were drawn from.
        filters: from :func:`make_filters`.

    Returns:
        float32 (n, 2 * n_filters): mean ReLU(conv - 1) for every filter, then mean
        ReLU(-conv - 1).
    """
    out = np.empty((len(images), filters.n_features), dtype=np.float32)
    k = filters.weights.shape[1]
    for start in range(0, len(images), CHUNK_IMAGES):
        patches = image_patches(images[start:start + CHUNK_IMAGES], filters.patch_px)
        response = patches @ filters.weights - filters.offset
        out[start:start + len(patches), :k] = np.maximum(response - BIAS, 0.0).mean(axis=1)
        out[start:start + len(patches), k:] = np.maximum(-response - BIAS, 0.0).mean(axis=1)
    return out
