"""The image model and its baselines as out-of-fold predictors on shared folds.

Every predictor is fitted on a fold's training rows only and predicts its test rows:

- ``ridge``: preprocessing + ridge, alpha chosen inside the training rows
  (the image model, nightlights-only, random convolutional features, untrained ImageNet).
- ``knn``: k-nearest-neighbours regression on standardised log nightlights (Yeh et al. 2020);
  k is chosen inside the training rows over ``KNN_CHOICES``.

With ``groups`` (the spatial block of each row, for spatial and country folds) alpha and k are
chosen by grouped k-fold over the training rows' blocks; without, by leave-one-out (see
:mod:`pipeline.evaluation.ridge`).
- ``group_mean``: the training mean of the test cluster's country or region (the training
  grand mean for a group without training clusters).

With cluster weights, ridge fits and group means are weighted; k-NN averages its neighbours
unweighted (its k is a smoothing choice, not an estimate of a population mean).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.neighbors import KNeighborsRegressor, NearestNeighbors

from pipeline.evaluation.folds import Folds
from pipeline.evaluation.ridge import cross_predict, inner_folds

KNN_CHOICES = (1, 3, 5, 10, 20, 40)


@dataclass(frozen=True)
class Predictor:
    """One model or baseline.

    Attributes:
        kind: how it learns (``ridge``, ``knn``, ``group_mean``).
        x: (n, d) features for ``ridge`` / ``knn``; (n,) group labels for ``group_mean``.
    """

    kind: Literal["ridge", "knn", "group_mean"]
    x: np.ndarray

    @property
    def has_features(self) -> bool:
        """False for a feature matrix with no columns (a baseline that was switched off)."""
        return self.x.ndim == 1 or self.x.shape[1] > 0

    def rows(self, rows: np.ndarray) -> Predictor:
        return Predictor(self.kind, self.x[rows])

    def cross_predict(self, y: np.ndarray, folds: Folds, alphas: Sequence[float],
                      log_skewed: bool = True, groups: np.ndarray | None = None,
                      weight: np.ndarray | None = None) -> tuple[np.ndarray, list[float]]:
        """Out-of-fold predictions (NaN for rows never tested) and each fold's parameter.

        ``groups`` (n,): spatial blocks for the inner choice of alpha / k, or None.
        ``weight`` (n,): cluster weights, or None.
        """
        if self.kind == "ridge":
            return cross_predict(self.x, y, folds, alphas, log_skewed, groups, weight)
        pred = np.full(len(y), np.nan)
        params = []
        for train, test in folds:
            if self.kind == "knn":
                inner = None if groups is None else groups[train]
                pred[test], param = knn_predict(self.x[train], y[train], self.x[test], inner)
            else:
                pred[test], param = group_mean_predict(
                    self.x[train], y[train], self.x[test],
                    None if weight is None else weight[train])
            params.append(param)
        return pred, params


def knn_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                groups: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """k-NN regression, features standardised and k chosen on the training rows; (pred, k)."""
    mean, scale = x_train.mean(axis=0), np.maximum(x_train.std(axis=0), 1e-12)
    z_train, z_test = (x_train - mean) / scale, (x_test - mean) / scale
    choices = [k for k in KNN_CHOICES if k < len(y_train)] or [1]
    if groups is None or len(np.unique(groups)) < 2:
        k = best_k(z_train, y_train, choices)
    else:
        k = grouped_k(z_train, y_train, choices, groups)
    index = NearestNeighbors(n_neighbors=min(k, len(y_train))).fit(z_train)
    _, idx = index.kneighbors(z_test)
    return y_train[idx].mean(axis=1), float(k)


def best_k(z: np.ndarray, y: np.ndarray, choices: Sequence[int]) -> int:
    """The k with the smallest exact leave-one-out squared error among ``choices``."""
    if len(y) < 3:
        return 1
    k_max = min(max(choices), len(y) - 1)
    _, idx = NearestNeighbors(n_neighbors=k_max + 1).fit(z).kneighbors(z)
    others = np.array([row[row != i][:k_max] for i, row in enumerate(idx)])  # drop the row itself
    cumulative = np.cumsum(y[others], axis=1) / np.arange(1, k_max + 1)
    errors = {k: float(np.mean((cumulative[:, min(k, k_max) - 1] - y) ** 2)) for k in choices}
    return min(errors, key=errors.get)


def grouped_k(z: np.ndarray, y: np.ndarray, choices: Sequence[int], groups: np.ndarray) -> int:
    """The k with the smallest squared error over grouped k-fold (whole blocks held out)."""
    errors = dict.fromkeys(choices, 0.0)
    for train, test in inner_folds(groups).split(z, y, groups):
        for k in choices:
            knn = KNeighborsRegressor(n_neighbors=min(k, len(train))).fit(z[train], y[train])
            errors[k] += float(((knn.predict(z[test]) - y[test]) ** 2).sum())
    return min(errors, key=errors.get)


def group_mean_predict(g_train: np.ndarray, y_train: np.ndarray, g_test: np.ndarray,
                       w_train: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """(Weighted) training mean of each test row's group (grand mean for unseen groups);
    (pred, groups)."""
    keys = np.asarray(g_train).astype(str)
    if w_train is None:
        means = {key: float(y_train[keys == key].mean()) for key in np.unique(keys)}
        grand = float(y_train.mean())
    else:
        means = {key: float(np.average(y_train[keys == key], weights=w_train[keys == key]))
                 for key in np.unique(keys)}
        grand = float(np.average(y_train, weights=w_train))
    pred = np.array([means.get(str(g), grand) for g in g_test], dtype=np.float64)
    return pred, float(len(means))
