"""Nightlight intensity classes: thresholds between classes, each tile's class, balancing.

Classes follow Jean et al. 2016: a Gaussian mixture over tile intensities (on
log(1 + radiance), radiance clipped at 0: :func:`pipeline.geo.nightlights.intensity`), quantiles,
or fixed radiance thresholds. The label stage calls these on the tiles' radiance; every function
takes arrays and plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.mixture import GaussianMixture

from pipeline.errors import InputDataError
from pipeline.geo.nightlights import intensity

# What to try instead when a class gets no tile, by labels.method.
OTHER_METHODS = {"gmm": "use labels.method: quantile, or fixed with labels.thresholds",
                 "quantile": "use labels.method: gmm, or fixed with labels.thresholds",
                 "fixed": "use labels.method: gmm or quantile, or choose other labels.thresholds"}


def class_thresholds(radiance: np.ndarray, method: str, n_classes: int, seed: int,
                     fixed: Sequence[float] | None = None) -> np.ndarray:
    """Radiance thresholds between consecutive classes, ascending, length n_classes - 1.

    Args:
        radiance: finite per-tile radiance, shape (n,).
        method: ``gmm`` (boundaries where the most likely mixture component changes),
            ``quantile`` (classes as equal in count as ties allow, see
            :func:`quantile_thresholds`) or ``fixed`` (``fixed`` as given).
        fixed: the ``labels.thresholds`` of method ``fixed``, radiance units.
    """
    if method == "fixed":
        return np.asarray(fixed, dtype=np.float64)
    if method == "quantile":
        return quantile_thresholds(radiance, n_classes)
    x = intensity(radiance)
    gmm = GaussianMixture(n_classes, random_state=seed, n_init=3).fit(x.reshape(-1, 1))
    grid = np.linspace(x.min(), x.max(), 4096)
    order = np.argsort(gmm.means_.ravel())
    rank = np.empty_like(order)
    rank[order] = np.arange(n_classes)
    labels = np.maximum.accumulate(rank[gmm.predict(grid.reshape(-1, 1))])
    cuts = [grid[np.argmax(labels >= k)] for k in range(1, n_classes)]
    return np.expm1(np.asarray(cuts))


def quantile_thresholds(radiance: np.ndarray, n_classes: int) -> np.ndarray:
    """Thresholds of classes as equal in count as ties allow; tiles of equal radiance share a class.

    Each threshold is a radiance that occurs (the lowest of the class above), chosen in turn so
    that the tiles above the previous one split as evenly as possible into the classes left: with
    70% of the tiles at 0 and 3 classes, the dark 70% and two halves of the rest. Fewer distinct
    values than classes give fewer thresholds, so a class stays empty.

    Args:
        radiance: finite per-tile radiance, shape (n,); negatives count as 0.
    """
    values, counts = np.unique(np.clip(radiance, 0.0, None), return_counts=True)
    below = np.cumsum(counts) - counts  # tiles below each distinct value
    thresholds: list[float] = []
    taken = 0
    for k in range(1, n_classes):
        target = taken + (counts.sum() - taken) / (n_classes - k + 1)
        # above the previous threshold, leaving a distinct value for each class still to come
        room = np.arange(len(values)) <= len(values) - n_classes + k
        fits = np.flatnonzero((below > taken) & room)
        if not len(fits):
            break
        j = fits[np.argmin(np.abs(below[fits] - target))]
        thresholds.append(values[j])
        taken = below[j]
    return np.asarray(thresholds, dtype=np.float64)


def assign_classes(radiance: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Class of each radiance value (int64); -1 where radiance is not finite."""
    labels = np.searchsorted(thresholds, np.clip(radiance, 0.0, None), side="right")
    return np.where(np.isfinite(radiance), labels, -1).astype(np.int64)


def check_classes(counts: np.ndarray, thresholds: np.ndarray, method: str, n_classes: int,
                  path: Path) -> None:
    """Refuse a class without tiles: train would have no example of it.

    With ``labels.balance`` and every tile in the dark class, no tile would train at all.

    Args:
        counts: tiles per class, shape (n_classes,).
        thresholds: the radiance thresholds between classes.
        method: ``labels.method`` (gmm, quantile or fixed), named in the message with what to
            try instead.
        n_classes: ``labels.n_classes``.
        path: the nightlight raster, named in the message.

    Raises:
        InputDataError: naming the method, n_classes, thresholds and class counts.
    """
    empty = np.flatnonzero(counts == 0).tolist()
    if empty:
        cuts = ", ".join(f"{t:.4g}" for t in thresholds)
        raise InputDataError(
            f"{path}: labels.method {method} with labels.n_classes={n_classes} and "
            f"thresholds [{cuts}] leaves class(es) {empty} without tiles (class counts "
            f"{counts.tolist()}), so the model could not learn them. Lower labels.n_classes, "
            f"{OTHER_METHODS[method]}.")


def balance_mask(labels: np.ndarray, balance: bool, max_dark_ratio: float, seed: int) -> np.ndarray:
    """Which tiles train on: every labelled tile, or with ``balance`` a subsample of the dark class.

    The dark class (0) is cut, at random (seeded), to at most ``max_dark_ratio`` times the size
    of the largest other class when it is larger than that (Jean et al. subsampled the
    dominant dark tiles). Tiles labelled -1 never train.

    Returns:
        bool array, shape (n,).
    """
    ok = labels >= 0
    counts = np.bincount(labels[ok], minlength=2)
    cap = int(np.ceil(max_dark_ratio * counts[1:].max()))
    if not balance or counts[0] <= cap:
        return ok
    dark = np.flatnonzero(labels == 0)
    drop = np.random.default_rng(seed).choice(dark, size=len(dark) - cap, replace=False)
    ok[drop] = False
    return ok
