"""Ridge regression from cluster features to a survey outcome: nested CV, JSON model.

Alpha is chosen inside each outer training fold only, and the preprocessing (fill, log1p of
skewed columns, dropping unsupported columns, clipping to the training range, standardising; see
:mod:`pipeline.evaluation.preprocess`) is fitted inside the fold too, so no held-out cluster
influences the model that predicts it.

How alpha is chosen follows the outer scheme. Without groups (random folds) it is ``RidgeCV``'s
efficient leave-one-out. With groups (spatial blocks, for spatial and country folds, and for the
final map model) it is grouped k-fold over the training rows' blocks: leave-one-out between
neighbouring clusters that share tiles and conditions rewards memorising places, so it picks
too small an alpha for predicting new places (on the demo world of seed 1 the image model's
spatial-CV R² for log consumption was 0.18 with leave-one-out and 0.37 with the grouped
choice, on the same features). Models are saved as JSON, never pickled: a ``model.json`` maps each
target to its model's dict, stamped with ``format_version`` (:data:`MODEL_FORMAT`);
:func:`load_models` is the one place that reads older formats.

With cluster weights (``regression.weights``) the ridge minimises sum(w (y - prediction)²) +
alpha |coef|², and alpha is chosen by the weighted held-out error; the feature preprocessing
stays unweighted (it only conditions the design). The scikit-learn face of this module is
:mod:`pipeline.evaluation.estimators`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import GroupKFold

from pipeline.errors import InputDataError
from pipeline.evaluation.folds import Folds
from pipeline.evaluation.preprocess import Preprocessor

INNER_FOLDS = 5
"""Folds of the grouped alpha choice inside each training set."""

MODEL_FORMAT = 1
"""``format_version`` of the models :func:`save_models` writes. 0 (no ``format_version``): written
by 0.1 pre-releases, some without the fitted preprocessing or the training range."""


@dataclass(frozen=True)
class RidgeModel:
    """A fitted preprocess-then-ridge model: ``y = prep(x) @ coef + intercept``."""

    prep: Preprocessor
    coef: list[float]
    intercept: float
    alpha: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions for features ``x`` of shape (n, d); float64 (n,)."""
        return self.prep.transform(x) @ np.asarray(self.coef) + self.intercept

    def to_dict(self) -> dict[str, Any]:
        return {**self.prep.to_dict(), "coef": self.coef, "intercept": self.intercept,
                "alpha": self.alpha}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RidgeModel:
        """The model :meth:`to_dict` gave (a model of :func:`load_models`, any format)."""
        prep = Preprocessor(*(list(data[k]) for k in (
            "keep", "fill", "log1p", "mean", "scale", "low", "high")))
        return cls(prep, list(data["coef"]), float(data["intercept"]), float(data["alpha"]))


def fit_ridge(x: np.ndarray, y: np.ndarray, alphas: Sequence[float],
              log_skewed: bool = True, groups: np.ndarray | None = None,
              weight: np.ndarray | None = None) -> RidgeModel:
    """Preprocess ``x`` and fit ridge, alpha chosen over ``alphas`` on these rows only.

    Args:
        x: (n, d) features; y: (n,) target.
        groups: (n,) spatial block of each row: alpha by grouped k-fold over the blocks
            (:func:`grouped_alpha`); None: by leave-one-out.
        weight: (n,) positive cluster weights, or None (every cluster alike).
    """
    prep = Preprocessor.fit(x, log_skewed)
    z = prep.transform(x)
    if z.shape[1] == 0:  # nothing usable: the intercept alone
        return RidgeModel(prep, [], float(np.average(y, weights=weight)), float(max(alphas)))
    if groups is None or len(np.unique(groups)) < 2:
        alpha = float(RidgeCV(alphas=list(alphas)).fit(z, y, sample_weight=weight).alpha_)
    else:
        alpha = grouped_alpha(z, y, alphas, groups, weight)
    ridge = Ridge(alpha=alpha).fit(z, y, sample_weight=weight)
    return RidgeModel(prep, ridge.coef_.tolist(), float(ridge.intercept_), alpha)


def inner_folds(groups: np.ndarray) -> GroupKFold:
    """The grouped k-fold (``INNER_FOLDS``, fewer with fewer groups) of an inner choice."""
    return GroupKFold(n_splits=min(INNER_FOLDS, len(np.unique(groups))))


def grouped_alpha(z: np.ndarray, y: np.ndarray, alphas: Sequence[float],
                  groups: np.ndarray, weight: np.ndarray | None = None) -> float:
    """The alpha with the least (weighted) squared error over grouped k-fold (whole groups
    held out).

    One SVD per inner fold gives the held-out predictions of every alpha at once (with weights,
    of the training rows centred on their weighted means and scaled by sqrt(w)). Ties go to the
    larger alpha (the simpler model).
    """
    splitter = inner_folds(groups)
    grid = np.asarray(sorted(alphas), dtype=np.float64)
    errors = np.zeros(len(grid))
    for train, test in splitter.split(z, y, groups):
        if weight is None:
            mean, y_mean = z[train].mean(axis=0), y[train].mean()
            root = np.ones((len(train), 1))
        else:
            w = weight[train]
            mean, y_mean = np.average(z[train], axis=0, weights=w), np.average(y[train], weights=w)
            root = np.sqrt(w)[:, None]
        u, s, vt = np.linalg.svd(root * (z[train] - mean), full_matrices=False)
        projected = (z[test] - mean) @ vt.T                       # (n_test, rank)
        shrink = s / (s**2 + grid[:, None])                        # (alphas, rank)
        pred = projected @ (shrink * (u.T @ (root[:, 0] * (y[train] - y_mean)))).T + y_mean
        held = 1.0 if weight is None else weight[test, None]
        errors += (held * (pred - y[test, None]) ** 2).sum(axis=0)
    best = np.flatnonzero(errors <= errors.min() * (1 + 1e-12))
    return float(grid[best[-1]])


def fold_models(x: np.ndarray, y: np.ndarray, folds: Folds, alphas: Sequence[float],
                log_skewed: bool = True, groups: np.ndarray | None = None,
                weight: np.ndarray | None = None) -> list[RidgeModel]:
    """One model per fold, each fitted (alpha chosen too) on that fold's training rows only.

    ``groups`` (n,), when given, makes each fold choose alpha by grouped k-fold over its
    training rows' groups (see :func:`fit_ridge`).
    """
    return [fit_ridge(x[train], y[train], alphas, log_skewed,
                      None if groups is None else groups[train],
                      None if weight is None else weight[train]) for train, _ in folds]


def cross_predict(x: np.ndarray, y: np.ndarray, folds: Folds, alphas: Sequence[float],
                  log_skewed: bool = True, groups: np.ndarray | None = None,
                  weight: np.ndarray | None = None) -> tuple[np.ndarray, list[float]]:
    """Out-of-fold predictions (NaN where a row is never tested) and each fold's alpha."""
    pred = np.full(len(y), np.nan)
    models = fold_models(x, y, folds, alphas, log_skewed, groups, weight)
    for model, (_, test) in zip(models, folds, strict=True):
        pred[test] = model.predict(x[test])
    return pred, [m.alpha for m in models]


def save_models(path: Path, models: dict[str, dict[str, Any]]) -> None:
    """Write ``model.json``: per target, its model's dict with ``format_version`` first."""
    path.write_text(json.dumps({target: {"format_version": MODEL_FORMAT, **model}
                                for target, model in models.items()}, indent=2))


def load_models(path: Path) -> dict[str, dict[str, Any]]:
    """Read ``model.json``, every model brought to format :data:`MODEL_FORMAT`.

    Raises:
        InputDataError: the file cannot be read or parsed, or a model has a newer format.
    """
    try:
        models = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot read the saved models ({exc}).") from exc
    return {target: _upgraded(model, path, target) for target, model in models.items()}


def _upgraded(model: dict[str, Any], path: Path, target: str) -> dict[str, Any]:
    """One saved model in the current format (the one migration point of ``model.json``)."""
    version = model.get("format_version", 0)
    if version > MODEL_FORMAT:
        raise InputDataError(f"{path}: the {target} model has format_version {version}; this "
                             f"poverty-pipeline reads up to {MODEL_FORMAT}. Upgrade it, or refit.")
    if version == MODEL_FORMAT:
        return model
    model = dict(model)
    d = len(model["mean"])
    if "keep" not in model:  # plain standardisation of every column
        model.update(keep=list(range(d)), fill=[0.0] * d, log1p=[False] * d)
    model.setdefault("low", [-np.inf] * d)  # no training range: no clipping
    model.setdefault("high", [np.inf] * d)
    return {**model, "format_version": MODEL_FORMAT}
