"""Ridge regression from cluster features to a survey outcome: nested CV, JSON model.

Alpha is chosen inside each outer training fold only (``RidgeCV``'s efficient leave-one-out on
that fold), and the preprocessing (fill, log1p of skewed columns, dropping unsupported columns,
clipping to the training range, standardising; see :mod:`pipeline.evaluation.preprocess`) is fitted inside the fold too, so no
held-out cluster influences the model that predicts it. Models are saved as JSON, never pickled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import RidgeCV

from pipeline.evaluation.folds import Folds
from pipeline.evaluation.preprocess import Preprocessor


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
        if "keep" in data:
            prep = Preprocessor(*(list(data.get(k, [])) for k in (
                "keep", "fill", "log1p", "mean", "scale", "low", "high")))
        else:  # saved by VERSION 1 of the fit stage: plain standardisation
            prep = Preprocessor.identity(len(data["mean"]), data["mean"], data["scale"])
        return cls(prep, list(data["coef"]), float(data["intercept"]), float(data["alpha"]))


def fit_ridge(x: np.ndarray, y: np.ndarray, alphas: Sequence[float],
              log_skewed: bool = True) -> RidgeModel:
    """Preprocess ``x`` and fit ridge, alpha chosen by leave-one-out over ``alphas``."""
    prep = Preprocessor.fit(x, log_skewed)
    z = prep.transform(x)
    if z.shape[1] == 0:  # nothing usable: the intercept alone
        return RidgeModel(prep, [], float(np.mean(y)), float(max(alphas)))
    ridge = RidgeCV(alphas=list(alphas)).fit(z, y)
    return RidgeModel(prep, ridge.coef_.tolist(), float(ridge.intercept_), float(ridge.alpha_))


def cross_predict(x: np.ndarray, y: np.ndarray, folds: Folds, alphas: Sequence[float],
                  log_skewed: bool = True) -> tuple[np.ndarray, list[float]]:
    """Out-of-fold predictions; each fold's model (and alpha) sees only its training rows."""
    pred = np.full(len(y), np.nan)
    chosen = []
    for train, test in folds:
        model = fit_ridge(x[train], y[train], alphas, log_skewed)
        pred[test] = model.predict(x[test])
        chosen.append(model.alpha)
    return pred, chosen


def save_models(path: Path, models: dict[str, dict[str, object]]) -> None:
    path.write_text(json.dumps(models, indent=2))


def load_models(path: Path) -> dict[str, dict[str, object]]:
    return json.loads(path.read_text())
