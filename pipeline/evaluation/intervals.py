"""Prediction intervals whose promise is stated truthfully, and measured.

Methods (``alpha = 1 - coverage``; n calibration clusters; ``k = ceil((1 - alpha)(n + 1))``):

- ``naive_cv`` (what the pipeline did before): the ``k``-th smallest out-of-fold absolute
  residual placed around the model refitted on all clusters. It has **no** finite-sample
  guarantee: the residuals come from fold models, the interval is put around another model
  (Barber et al. 2021, section 2). Kept only to be measured.
- ``cv_plus`` (CV+, Barber, Candès, Ramdas & Tibshirani 2021, "Predictive inference with the
  jackknife+", Ann. Stat.): for a new place x, with ``mu_k`` the model of fold k, ``k(i)`` the
  fold that held out cluster i and ``R_i = |y_i - mu_k(i)(x_i)|``, the interval is
  [k-th largest of ``mu_k(i)(x) - R_i``, k-th smallest of ``mu_k(i)(x) + R_i``]. When the new
  place's (x, y) is exchangeable with the training clusters it covers with probability at least
  ``1 - 2 alpha`` minus a small K-fold term (:func:`cv_plus_guarantee`); in practice close to
  ``1 - alpha``. MAPIE's ``CrossConformalRegressor(method="plus")`` computes the same bounds
  (the tests check it).
- ``normalised``: CV+ on residuals scaled by a difficulty fitted on each fold's training rows,
  ``sigma_k(x) = beta + d_k(x)``, ``d_k`` the distance of x to the nearest training cluster of
  fold k in that fold model's principal-component space
  (:class:`~pipeline.evaluation.conformal.OodReference`) and ``beta`` the median of the
  calibration clusters' distances. Bounds are ``mu_k(i)(x) -/+ sigma_k(i)(x) R_i /
  sigma_k(i)(x_i)``; the CV+ argument holds for any score fitted without the scored cluster,
  so the promise is the same, and the interval widens far from the training clusters.
- ``mondrian_urban``: CV+ within urban and within rural clusters separately (Mondrian
  conformal, Vovk et al. 2005): the promise holds within each group. It needs the group of the
  new place, which survey clusters have and map tiles do not, so it is measured, never mapped.

None of them promises anything for places unlike the training clusters (another country, a
city where only villages were surveyed): the out-of-distribution flag marks those.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.evaluation.conformal import OodReference, conformal_half_width
from pipeline.evaluation.ridge import RidgeModel

METHODS = ("naive_cv", "cv_plus", "normalised", "mondrian_urban")


def cv_plus_rank(n: int, coverage: float) -> int:
    """``ceil((1 - alpha)(n + 1))``, the order statistic of the CV+ bounds."""
    return int(math.ceil(coverage * (n + 1) - 1e-12))


def cv_plus_guarantee(n: int, folds: int, coverage: float) -> float:
    """The coverage K-fold CV+ guarantees (Barber et al. 2021, Theorem 4):
    ``1 - 2 alpha - min(2(1 - 1/K) / (n/K + 1), (1 - K/n) / (K + 1))``."""
    alpha = 1.0 - coverage
    slack = min(2 * (1 - 1 / folds) / (n / folds + 1), (1 - folds / n) / (folds + 1))
    return max(0.0, 1 - 2 * alpha - slack)


def cv_plus_bounds(fold_pred: np.ndarray, fold: np.ndarray, scores: np.ndarray,
                   coverage: float, scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """CV+ interval ends for m new places.

    Args:
        fold_pred: (K, m) each fold model's prediction for the new places.
        fold: (n,) the fold that held out each calibration cluster (0..K-1).
        scores: (n,) the calibration clusters' conformity scores (absolute residuals, or
            residuals divided by their difficulty).
        scale: (K, m) each fold's difficulty at the new places (``normalised``), or None.

    Returns:
        (lower, upper), float64 (m,); -inf / +inf when there are too few calibration clusters
        for ``coverage`` (k > n).
    """
    n = len(scores)
    k = cv_plus_rank(n, coverage)
    m = fold_pred.shape[1]
    if k > n or n == 0:
        return np.full(m, -np.inf), np.full(m, np.inf)
    centre = fold_pred[fold]                                  # (n, m)
    spread = scores[:, None] * (1.0 if scale is None else scale[fold])
    upper = np.partition(centre + spread, k - 1, axis=0)[k - 1]
    lower = -np.partition(-(centre - spread), k - 1, axis=0)[k - 1]
    return lower, upper


@dataclass(frozen=True)
class FoldSet:
    """Fold models and calibration residuals: everything a CV+ interval needs, as saved.

    Attributes:
        models: one per fold, fitted on that fold's training rows.
        fold: (n,) the fold that held out each calibration cluster.
        residuals: (n,) ``y_i - mu_k(i)(x_i)``.
        references: per fold, the training clusters in that fold model's principal-component
            space (for ``normalised``); empty when not needed.
        beta: the difficulty offset of ``normalised``.
        difficulty: (n,) ``sigma_k(i)(x_i)`` of the calibration clusters, or empty.
        rows: (n,) the calibration clusters' positions among the rows :meth:`fit` was given
            (rows no fold tested are left out).
    """

    models: list[RidgeModel]
    fold: np.ndarray
    residuals: np.ndarray
    references: list[OodReference]
    beta: float
    difficulty: np.ndarray
    rows: np.ndarray | None = None

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]],
            models: list[RidgeModel], normalised: bool = True) -> FoldSet:
        """From the fold models of ``folds`` over rows ``x`` (n, d), ``y`` (n,); every row must be
        tested by exactly one fold."""
        fold = np.full(len(y), -1, dtype=np.int64)
        residuals = np.full(len(y), np.nan)
        for k, ((_, test), model) in enumerate(zip(folds, models, strict=True)):
            fold[test] = k
            residuals[test] = y[test] - model.predict(x[test])
        refs: list[OodReference] = []
        distance = np.full(len(y), np.nan)
        beta = 1.0
        if normalised:
            refs = [OodReference.fit(m.prep.transform(x[train], clip=False), 0.99)
                    for m, (train, _) in zip(models, folds, strict=True)]
            for k, (_, test) in enumerate(folds):
                distance[test] = refs[k].distance(models[k].prep.transform(x[test], clip=False))
            beta = float(max(np.nanmedian(distance), 1e-6))
        tested = fold >= 0  # rows no fold tests (no country, in country folds) do not calibrate
        difficulty = distance[tested] + beta if normalised else np.empty(0)
        return cls(models, fold[tested], residuals[tested], refs, beta, difficulty,
                   np.flatnonzero(tested))

    def fold_predictions(self, x: np.ndarray) -> np.ndarray:
        """(K, m) each fold model's predictions for rows ``x`` (m, d)."""
        return np.stack([m.predict(x) for m in self.models]) if len(x) else np.empty((len(self.models), 0))

    def fold_difficulty(self, x: np.ndarray) -> np.ndarray:
        """(K, m) ``sigma_k(x)`` of each fold for rows ``x`` (m, d)."""
        return np.stack([self.beta + r.distance(m.prep.transform(x, clip=False))
                         for m, r in zip(self.models, self.references, strict=True)])

    def bounds(self, x: np.ndarray, coverage: float, method: str = "cv_plus",
               calibration: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``cv_plus`` or ``normalised`` interval ends for rows ``x`` (m, d); ``calibration``:
        a mask of the calibration clusters to use (Mondrian: the new places' group)."""
        keep = np.ones(len(self.fold), dtype=bool) if calibration is None else calibration
        pred = self.fold_predictions(x)
        if method == "normalised":
            scores = np.abs(self.residuals[keep]) / self.difficulty[keep]
            return cv_plus_bounds(pred, self.fold[keep], scores, coverage,
                                  self.fold_difficulty(x))
        return cv_plus_bounds(pred, self.fold[keep], np.abs(self.residuals[keep]), coverage)

    def to_dict(self, method: str) -> dict[str, Any]:
        """What a saved model needs to draw ``method`` intervals on new rows."""
        out: dict[str, Any] = {"fold_models": [m.to_dict() for m in self.models],
                               "fold": self.fold.tolist(), "residuals": self.residuals.tolist()}
        if method == "normalised":
            out.update(references=[r.to_dict() for r in self.references], beta=self.beta,
                       difficulty=self.difficulty.tolist())
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FoldSet:
        refs = [OodReference(**r) for r in data.get("references", [])]
        return cls([RidgeModel.from_dict(m) for m in data["fold_models"]],
                    np.asarray(data["fold"], dtype=np.int64),
                    np.asarray(data["residuals"], dtype=np.float64), refs,
                    float(data.get("beta", 1.0)),
                    np.asarray(data.get("difficulty", []), dtype=np.float64))


def guarantee_text(method: str, n: int, folds: int, coverage: float) -> str:
    """In plain words, what ``method`` promises with n calibration clusters and K folds."""
    floor = cv_plus_guarantee(n, folds, coverage)
    assumption = ("if the new place is exchangeable with the training clusters (drawn like them; "
                  "for spatial folds, from blocks like theirs); nothing for places unlike them "
                  "(see the OOD flag)")
    if method == "naive_cv":
        return ("none: the out-of-fold residual quantile around the model refitted on all "
                "clusters has no finite-sample guarantee; only its measured coverage tells")
    if method == "mondrian_urban":
        return (f"within urban and within rural clusters separately, coverage >= {floor:.3f} "
                f"(CV+: 1 - 2 alpha minus a K-fold term) {assumption}; needs the group of the "
                "place, so it is not drawn on the map")
    extra = ", wider far from the training clusters" if method == "normalised" else ""
    return (f"coverage >= {floor:.3f} (CV+: 1 - 2 alpha minus a K-fold term; typically near "
            f"{coverage:g}){extra}, {assumption}")


def naive_half_width(residuals: np.ndarray, coverage: float) -> float:
    """The old interval's half-width: the conformal quantile of out-of-fold residuals."""
    return conformal_half_width(residuals, coverage)
