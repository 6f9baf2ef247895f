"""Ridge regression from cluster features to a survey outcome: nested CV, scores, JSON model.

Alpha is chosen inside each outer training fold only (``RidgeCV``'s efficient leave-one-out on
that fold), and the scaler is fitted inside the fold too, so no held-out cluster influences the
model that predicts it. Models are saved as JSON, never pickled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from pipeline.geo.blocks import block_ids

Folds = list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class RidgeModel:
    """A fitted standardise-then-ridge model: ``y = ((x - mean) / scale) @ coef + intercept``."""

    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    alpha: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions for features ``x`` of shape (n, d); float64 (n,)."""
        z = (np.asarray(x, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)
        return z @ np.asarray(self.coef) + self.intercept

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> RidgeModel:
        return cls(**{k: data[k] for k in ("mean", "scale", "coef", "intercept", "alpha")})


def fit_ridge(x: np.ndarray, y: np.ndarray, alphas: Sequence[float]) -> RidgeModel:
    """Standardise ``x`` and fit ridge, alpha chosen by leave-one-out over ``alphas``."""
    pipe = make_pipeline(StandardScaler(), RidgeCV(alphas=list(alphas))).fit(x, y)
    scaler, ridge = pipe[0], pipe[1]
    return RidgeModel(scaler.mean_.tolist(), scaler.scale_.tolist(), ridge.coef_.tolist(),
                      float(ridge.intercept_), float(ridge.alpha_))


def cross_predict(x: np.ndarray, y: np.ndarray, folds: Folds, alphas: Sequence[float]) -> tuple[np.ndarray, list[float]]:
    """Out-of-fold predictions; each fold's model (and alpha) sees only its training rows."""
    pred = np.full(len(y), np.nan)
    chosen = []
    for train, test in folds:
        model = fit_ridge(x[train], y[train], alphas)
        pred[test] = model.predict(x[test])
        chosen.append(model.alpha)
    return pred, chosen


def random_folds(n: int, k: int, seed: int) -> Folds:
    """Shuffled k-fold split of n rows."""
    return list(KFold(min(k, n), shuffle=True, random_state=seed).split(np.zeros(n)))


def spatial_folds(lon: np.ndarray, lat: np.ndarray, k: int, block_km: float, seed: int) -> Folds:
    """k folds of whole square spatial blocks (side ``block_km``), so neighbours share a fold."""
    groups = block_ids(lon, lat, block_km)
    k = min(k, len(np.unique(groups)))
    splitter = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(lon)), groups=groups))


def scores(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """R² (sklearn's, 1 - SSE/SST), Pearson r² and RMSE, in the units of ``y``."""
    pearson = pearsonr(y, pred)[0] if np.std(pred) > 0 and np.std(y) > 0 else 0.0
    return {"r2": float(r2_score(y, pred)), "pearson_r2": float(pearson**2),
            "rmse": float(np.sqrt(mean_squared_error(y, pred))), "n": int(len(y))}


def save_models(path: Path, models: dict[str, dict[str, object]]) -> None:
    path.write_text(json.dumps(models, indent=2))


def load_models(path: Path) -> dict[str, dict[str, object]]:
    return json.loads(path.read_text())
