"""Scores of out-of-fold predictions, with bootstrap intervals.

"r²" means different things in different papers, so both are reported: ``r2`` is sklearn's R²
(1 - SSE/SST, negative when the predictions are worse than the mean) and ``pearson_r2`` the
squared correlation. Intervals are percentile bootstraps over clusters (resampling pairs of
observed and predicted values); they describe the sampling of clusters, not of folds.

Whether the image model beats a baseline is a question about a difference of two r²s on the same
clusters, which varies far less than either r² alone: :func:`paired_gain` scores both predictors
on every resample and reports the interval of the difference.
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


def resamples(n: int, n_boot: int, seed: int) -> np.ndarray | None:
    """(n_boot, n) row indices of the cluster bootstrap; the same for every predictor given the
    seed. None when there are too few rows or no resamples."""
    if n_boot == 0 or n < 3:
        return None
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def interval(values: np.ndarray) -> list[float]:
    """The central ``CI_LEVEL`` percentile interval of the finite values ([] when none)."""
    values = values[np.isfinite(values)]
    if not len(values):
        return []
    tail = (1 - CI_LEVEL) / 2 * 100
    return [float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))]


def bootstrap_intervals(y: np.ndarray, pred: np.ndarray, n_boot: int,
                        seed: int) -> dict[str, list[float]]:
    """95% percentile intervals of R² and Pearson r² over ``n_boot`` cluster resamples."""
    idx = resamples(len(y), n_boot, seed)
    if idx is None:
        return {}
    return {f"{name}_ci": interval(fn(y[idx], pred[idx]))
            for name, fn in (("r2", r2), ("pearson_r2", pearson_r2))}


def paired_gain(y: np.ndarray, pred: np.ndarray, other: np.ndarray, n_boot: int = 0,
                seed: int = 0) -> dict[str, object]:
    """How much better ``pred`` scores than ``other`` on the same clusters.

    Returns:
        ``r2_gain``: R²(pred) - R²(other); with ``n_boot`` resamples also ``r2_gain_ci``, the
        95% interval of the gain when both are scored on each resample of clusters (paired),
        and ``share_better``, the share of resamples on which ``pred`` scores higher.
    """
    y, pred, other = (np.asarray(a, dtype=np.float64) for a in (y, pred, other))
    out: dict[str, object] = {"r2_gain": float(r2(y, pred) - r2(y, other))}
    idx = resamples(len(y), n_boot, seed)
    if idx is not None:
        gains = r2(y[idx], pred[idx]) - r2(y[idx], other[idx])
        gains = gains[np.isfinite(gains)]  # a resample with one distinct y has no R²
        out["r2_gain_ci"] = interval(gains)
        out["share_better"] = float(np.mean(gains > 0)) if len(gains) else None
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


def gain_text(gain: dict[str, object]) -> str:
    """``+0.043 [+0.012, +0.075]``: a :func:`paired_gain` and its interval, when it has one."""
    ci = gain.get("r2_gain_ci") or []
    return f"{gain['r2_gain']:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")
