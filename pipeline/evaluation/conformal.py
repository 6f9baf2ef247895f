"""Prediction intervals (split conformal) and the out-of-distribution flag.

Intervals: the out-of-fold residuals ``|observed - predicted|`` of the clusters form the
calibration set (every one was predicted by a model that never saw it). The half-width is their
``ceil((n + 1) * coverage) / n`` empirical quantile, so ``prediction ± half_width`` covers a new
cluster's value with probability at least ``coverage`` when clusters are exchangeable (Vovk et al.
2005; Lei et al. 2018). Residuals from spatial folds are preferred: they include the error of
predicting an unseen area. For a logged target the interval is symmetric in log units and
``exp`` of its ends in outcome units.

Out of distribution: cluster and tile features are compared in the standardised design space of
the final model, before the clip to the training range that predictions get (a place far beyond
that range on one feature must be flagged, not pulled back to its edge). Each row is described by
its coordinates on the design's first principal components plus its distance off them (so a place
extreme along a direction the training clusters hardly vary in counts too). A place is flagged
when its distance to the nearest training cluster in that space exceeds the ``ood_quantile`` of
the training clusters' own leave-one-out nearest-neighbour distances.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.neighbors import NearestNeighbors

MAX_COMPONENTS = 20
VARIANCE_SHARE = 0.95


def conformal_rank(residuals: np.ndarray, coverage: float) -> int | None:
    """The rank ``ceil((n + 1) * coverage)`` of the conformal quantile among the n finite
    residuals, or None when it exceeds n (too few residuals for the guarantee)."""
    n = int(np.isfinite(residuals).sum())
    rank = int(np.ceil((n + 1) * coverage))
    return rank if 1 <= rank <= n else None


def conformal_half_width(residuals: np.ndarray, coverage: float) -> float:
    """The split-conformal half-width for ``coverage`` from absolute residuals (n,).

    With too few residuals for the conformal rank (:func:`conformal_rank` is None) this is the
    largest residual, and the coverage is no longer guaranteed.
    """
    r = np.sort(np.abs(residuals[np.isfinite(residuals)]))
    if len(r) == 0:
        return float("nan")
    return float(r[(conformal_rank(r, coverage) or len(r)) - 1])


def split_check(residuals: np.ndarray, coverage: float, seed: int, repeats: int = 50) -> float:
    """Honest check of the interval: calibrate on a random half, measure coverage on the other.

    Returns the mean coverage over ``repeats`` random halvings.
    """
    r = np.abs(residuals[np.isfinite(residuals)])
    rng = np.random.default_rng(seed)
    hits = []
    for _ in range(repeats):
        order = rng.permutation(len(r))
        calib, test = order[: len(r) // 2], order[len(r) // 2:]
        hits.append(float(np.mean(r[test] <= conformal_half_width(r[calib], coverage))))
    return float(np.mean(hits)) if hits else float("nan")


@dataclass(frozen=True)
class OodReference:
    """Training clusters in principal-component space, and the distance threshold.

    Attributes:
        components: (k, d) principal axes of the standardised training design.
        reference: (n_train, k) the training clusters' coordinates on them.
        threshold: distance beyond which a place is out of distribution.
        quantile: the quantile of leave-one-out distances the threshold is.
        residual: the last coordinate of ``reference`` is the distance off the principal axes
            (False in models saved before it was added: the axes only).
    """

    components: list[list[float]]
    reference: list[list[float]]
    threshold: float
    quantile: float
    residual: bool = False

    @classmethod
    def fit(cls, z: np.ndarray, quantile: float) -> OodReference:
        """From the standardised, unclipped training design ``z`` (n, d), centred by construction."""
        if z.shape[1] == 0 or len(z) < 3:
            return cls([], [], float("inf"), quantile)
        _, s, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
        share = np.cumsum(s**2) / max(float(np.sum(s**2)), 1e-12)
        k = int(min(MAX_COMPONENTS, np.searchsorted(share, VARIANCE_SHARE) + 1, len(s)))
        ref = _coordinates(z, vt[:k], residual=True)
        dist, _ = NearestNeighbors(n_neighbors=2).fit(ref).kneighbors(ref)
        threshold = float(np.quantile(dist[:, 1], quantile))
        return cls(vt[:k].tolist(), ref.tolist(), threshold, quantile, residual=True)

    def distance(self, z: np.ndarray) -> np.ndarray:
        """Distance of each row of a standardised, unclipped design (m, d) to the nearest
        training cluster."""
        if not self.components:
            return np.zeros(len(z))
        coords = _coordinates(np.nan_to_num(z), np.asarray(self.components), self.residual)
        dist, _ = NearestNeighbors(n_neighbors=1).fit(np.asarray(self.reference)).kneighbors(coords)
        return dist[:, 0]

    def flag(self, z: np.ndarray) -> np.ndarray:
        """True where a row lies farther than the threshold from every training cluster."""
        return self.distance(z) > self.threshold

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _coordinates(z: np.ndarray, axes: np.ndarray, residual: bool) -> np.ndarray:
    """Rows of ``z`` (m, d) on the principal ``axes`` (k, d), plus their distance off them."""
    proj = z @ axes.T
    if not residual:
        return proj
    off = np.linalg.norm(z - proj @ axes, axis=1, keepdims=True)
    return np.hstack([proj, off])
