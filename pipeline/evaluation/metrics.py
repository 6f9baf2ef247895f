"""Scores of out-of-fold predictions, with bootstrap intervals.

"r²" means different things in different papers, so both are reported: ``r2`` is sklearn's R²
(1 - SSE/SST, negative when the predictions are worse than the mean) and ``pearson_r2`` the
squared correlation. Intervals are percentile bootstraps over clusters (resampling pairs of
observed and predicted values); they describe the sampling of clusters, not of folds.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

CI_LEVEL = 0.95


def r2(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """R² along the last axis (vectorised over leading axes); -inf-free: SST 0 gives NaN."""
    sse = ((y - pred) ** 2).sum(axis=-1)
    sst = ((y - y.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sst > 0, 1.0 - sse / sst, np.nan)


def pearson_r2(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Squared Pearson correlation along the last axis; 0 where either side is constant."""
    yc = y - y.mean(axis=-1, keepdims=True)
    pc = pred - pred.mean(axis=-1, keepdims=True)
    den = np.sqrt((yc**2).sum(axis=-1) * (pc**2).sum(axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, ((yc * pc).sum(axis=-1) / den) ** 2, 0.0)


def bootstrap_intervals(y: np.ndarray, pred: np.ndarray, n_boot: int,
                        seed: int) -> dict[str, list[float]]:
    """95% percentile intervals of R² and Pearson r² over ``n_boot`` cluster resamples."""
    if n_boot == 0 or len(y) < 3:
        return {}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(n_boot, len(y)))
    tail = (1 - CI_LEVEL) / 2 * 100
    out = {}
    for name, fn in (("r2", r2), ("pearson_r2", pearson_r2)):
        values = fn(y[idx], pred[idx])
        values = values[np.isfinite(values)]
        out[f"{name}_ci"] = [float(np.percentile(values, tail)),
                             float(np.percentile(values, 100 - tail))] if len(values) else []
    return out


def scores(y: np.ndarray, pred: np.ndarray, n_boot: int = 0, seed: int = 0) -> dict[str, object]:
    """R², Pearson r², RMSE and Spearman's rho (in the units of ``y``), n, and intervals.

    Args:
        y, pred: observed and predicted values, shape (n,).
        n_boot: bootstrap resamples for ``r2_ci`` and ``pearson_r2_ci`` (0: none).
        seed: seeds the resampling.
    """
    y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    constant = np.std(pred) == 0 or np.std(y) == 0
    rho = 0.0 if constant else float(spearmanr(y, pred)[0])
    return {"r2": float(r2(y, pred)), "pearson_r2": float(pearson_r2(y, pred)),
            "rmse": float(np.sqrt(np.mean((y - pred) ** 2))), "spearman": rho, "n": int(len(y)),
            **bootstrap_intervals(y, pred, n_boot, seed)}
