"""Scores of out-of-fold predictions, with bootstrap intervals.

"r²" means different things in different papers, so both are reported: ``r2`` is sklearn's R²
(1 - SSE/SST, negative when the predictions are worse than the mean) and ``pearson_r2`` the
squared correlation. Intervals are percentile bootstraps over clusters (resampling pairs of
observed and predicted values); they describe the sampling of clusters, not of folds.

With cluster weights (``regression.weights``) every figure is the weighted one: R² =
1 - sum(w (y - pred)²) / sum(w (y - ybar_w)²), Pearson r² from weighted moments, RMSE = sqrt(sum(w
(y - pred)²) / sum(w)), so "r² over the population" is over the population the survey weights
stand for, not over the sampled clusters; the unweighted R², Pearson r² and RMSE are kept beside
them (``unweighted``). Spearman's rho stays unweighted. Bootstrap resamples carry each cluster's
weight with it.

Whether the image model beats a baseline is a question about a difference of two r²s on the same
clusters, which varies far less than either r² alone: :func:`paired_gain` scores both predictors
on every resample and reports the interval of the difference.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

CI_LEVEL = 0.95


def _w(y: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Weights broadcast to ``y`` (ones when None)."""
    return np.ones_like(y) if w is None else np.broadcast_to(np.asarray(w, dtype=np.float64),
                                                             y.shape)


def _mean(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (w * v).sum(axis=-1, keepdims=True) / w.sum(axis=-1, keepdims=True)


def r2(y: np.ndarray, pred: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """R² along the last axis (vectorised over leading axes), weighted by ``w`` when given;
    -inf-free: SST 0 gives NaN."""
    if w is None:
        sse = ((y - pred) ** 2).sum(axis=-1)
        sst = ((y - y.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
    else:
        w = _w(y, w)
        sse = (w * (y - pred) ** 2).sum(axis=-1)
        sst = (w * (y - _mean(y, w)) ** 2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sst > 0, 1.0 - sse / sst, np.nan)


def pearson_r2(y: np.ndarray, pred: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Squared (weighted) Pearson correlation along the last axis; 0 where either side is
    constant."""
    if w is None:
        yc = y - y.mean(axis=-1, keepdims=True)
        pc = pred - pred.mean(axis=-1, keepdims=True)
        w = 1.0
    else:
        w = _w(y, w)
        yc = y - _mean(y, w)
        pc = pred - _mean(pred, w)
    den = np.sqrt((w * yc**2).sum(axis=-1) * (w * pc**2).sum(axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, ((w * yc * pc).sum(axis=-1) / den) ** 2, 0.0)


def rmse(y: np.ndarray, pred: np.ndarray, w: np.ndarray | None = None) -> float:
    """Root (weighted) mean squared error, in the units of ``y``."""
    if w is None:
        return float(np.sqrt(np.mean((y - pred) ** 2)))
    return float(np.sqrt(np.sum(w * (y - pred) ** 2) / np.sum(w)))


def weighted_percentile(values: np.ndarray, p: float, w: np.ndarray | None = None) -> float:
    """The ``p``-th percentile of ``values``; with weights, the smallest value whose cumulative
    weight share reaches p/100 (the inverted weighted CDF). Without, numpy's default."""
    if w is None:
        return float(np.percentile(values, p))
    order = np.argsort(values, kind="stable")
    share = np.cumsum(np.asarray(w, dtype=np.float64)[order]) / np.sum(w)
    return float(values[order][min(np.searchsorted(share, p / 100 - 1e-12), len(values) - 1)])


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


def bootstrap_intervals(y: np.ndarray, pred: np.ndarray, n_boot: int, seed: int,
                        w: np.ndarray | None = None) -> dict[str, list[float]]:
    """95% percentile intervals of R² and Pearson r² over ``n_boot`` cluster resamples."""
    idx = resamples(len(y), n_boot, seed)
    if idx is None:
        return {}
    wi = None if w is None else w[idx]
    return {f"{name}_ci": interval(fn(y[idx], pred[idx], wi))
            for name, fn in (("r2", r2), ("pearson_r2", pearson_r2))}


def paired_gain(y: np.ndarray, pred: np.ndarray, other: np.ndarray, n_boot: int = 0,
                seed: int = 0, w: np.ndarray | None = None) -> dict[str, object]:
    """How much better ``pred`` scores than ``other`` on the same clusters.

    Returns:
        ``r2_gain``: R²(pred) - R²(other); with ``n_boot`` resamples also ``r2_gain_ci``, the
        95% interval of the gain when both are scored on each resample of clusters (paired),
        and ``share_better``, the share of resamples on which ``pred`` scores higher.
    """
    y, pred, other = (np.asarray(a, dtype=np.float64) for a in (y, pred, other))
    out: dict[str, object] = {"r2_gain": float(r2(y, pred, w) - r2(y, other, w))}
    idx = resamples(len(y), n_boot, seed)
    if idx is not None:
        wi = None if w is None else w[idx]
        gains = r2(y[idx], pred[idx], wi) - r2(y[idx], other[idx], wi)
        gains = gains[np.isfinite(gains)]  # a resample with one distinct y has no R²
        out["r2_gain_ci"] = interval(gains)
        out["share_better"] = float(np.mean(gains > 0)) if len(gains) else None
    return out


def scores(y: np.ndarray, pred: np.ndarray, n_boot: int = 0, seed: int = 0,
           w: np.ndarray | None = None) -> dict[str, object]:
    """R², Pearson r², RMSE and Spearman's rho (in the units of ``y``), n, and intervals.

    Args:
        y, pred: observed and predicted values, shape (n,).
        n_boot: bootstrap resamples for ``r2_ci`` and ``pearson_r2_ci`` (0: none).
        seed: seeds the resampling.
        w: cluster weights (n,): R², Pearson r², RMSE and the intervals are weighted, and
            ``unweighted`` holds the unweighted R², Pearson r² and RMSE.
    """
    y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    w = None if w is None else np.asarray(w, dtype=np.float64)
    constant = np.std(pred) == 0 or np.std(y) == 0
    rho = 0.0 if constant else float(spearmanr(y, pred)[0])
    out = {"r2": float(r2(y, pred, w)), "pearson_r2": float(pearson_r2(y, pred, w)),
           "rmse": rmse(y, pred, w), "spearman": rho, "n": int(len(y)),
           **bootstrap_intervals(y, pred, n_boot, seed, w)}
    if w is not None:
        out["unweighted"] = {"r2": float(r2(y, pred)), "pearson_r2": float(pearson_r2(y, pred)),
                             "rmse": rmse(y, pred)}
    return out


def gain_text(gain: dict[str, object]) -> str:
    """``+0.043 [+0.012, +0.075]``: a :func:`paired_gain` and its interval, when it has one."""
    ci = gain.get("r2_gain_ci") or []
    return f"{gain['r2_gain']:+.3f}" + (f" [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "")
