"""How often each interval method covers clusters it never saw, measured on held-out blocks.

For each spatial fold (whole blocks held out), everything an interval needs is fitted on the
other blocks only: the fold models and residuals of the interval's own CV scheme (inner folds
over the remaining clusters), the model refitted on them (for ``naive_cv``), the difficulty
references (``normalised``). The held-out clusters' intervals are then checked against their
observed values. Coverage is the share covered (and the weighted share, with cluster weights),
beside the nominal coverage; width is the mean of upper - lower in the model's units (log where
the target is logged).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.evaluation.folds import Folds
from pipeline.evaluation.intervals import METHODS, FoldSet, naive_half_width
from pipeline.evaluation.ridge import fit_ridge, fold_models


def held_out_intervals(x: np.ndarray, y: np.ndarray, outer: Folds, inner_of, groups_of,
                       coverage: float, alphas: tuple[float, ...], log_skewed: bool,
                       weight: np.ndarray | None, urban: np.ndarray | None
                       ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Interval ends of every method for every held-out cluster.

    Args:
        x, y: (n, d) features and (n,) target of all clusters.
        outer: the held-out folds (spatial blocks).
        inner_of: rows -> the interval scheme's folds over those rows (or a reason string).
        groups_of: rows -> spatial blocks of those rows for the inner choice of alpha, or None.
        weight: (n,) cluster weights or None; urban: (n,) 1.0 / 0.0 / NaN, or None.

    Returns:
        method -> (lower, upper), float64 (n,), NaN where a cluster was not held out or the
        method could not run.
    """
    ends = {m: (np.full(len(y), np.nan), np.full(len(y), np.nan)) for m in METHODS}
    for train, test in outer:
        inner = inner_of(train)
        if isinstance(inner, str) or len(inner) < 2:
            continue
        groups = groups_of(train)
        w = None if weight is None else weight[train]
        models = fold_models(x[train], y[train], inner, alphas, log_skewed, groups, w)
        folds = FoldSet.fit(x[train], y[train], inner, models, normalised=True)
        full = fit_ridge(x[train], y[train], alphas, log_skewed, groups, w)
        half = naive_half_width(folds.residuals, coverage)
        centre = full.predict(x[test])
        ends["naive_cv"][0][test], ends["naive_cv"][1][test] = centre - half, centre + half
        for method in ("cv_plus", "normalised"):
            ends[method][0][test], ends[method][1][test] = folds.bounds(x[test], coverage, method)
        if urban is not None:
            _mondrian(ends["mondrian_urban"], x, train, test, folds, urban, coverage)
    return ends


def _mondrian(ends: tuple[np.ndarray, np.ndarray], x: np.ndarray, train: np.ndarray,
              test: np.ndarray, folds: FoldSet, urban: np.ndarray, coverage: float) -> None:
    """CV+ of each group's held-out clusters from the same group's calibration clusters."""
    calib_urban = urban[train][folds.rows]
    for group in (0.0, 1.0):
        rows = test[urban[test] == group]
        if len(rows):
            lo, hi = folds.bounds(x[rows], coverage, calibration=calib_urban == group)
            ends[0][rows], ends[1][rows] = lo, hi


def coverage_record(ends: dict[str, tuple[np.ndarray, np.ndarray]], y: np.ndarray,
                    coverage: float, weight: np.ndarray | None) -> dict[str, dict[str, Any]]:
    """Per method: held-out clusters, measured coverage (weighted too), mean width."""
    out: dict[str, dict[str, Any]] = {}
    for method, (lower, upper) in ends.items():
        done = ~np.isnan(lower)
        if not done.any():
            continue
        hit = (y[done] >= lower[done]) & (y[done] <= upper[done])
        width = upper[done] - lower[done]
        finite = np.isfinite(width)
        entry = {"nominal": coverage, "held_out_clusters": int(done.sum()),
                 "held_out_coverage": round(float(hit.mean()), 4),
                 "mean_width": round(float(width[finite].mean()), 4) if finite.any() else None,
                 "infinite_share": round(float(1 - finite.mean()), 4)}
        if weight is not None:
            entry["held_out_coverage_weighted"] = round(float(np.average(hit, weights=weight[done])),
                                                        4)
        out[method] = entry
    return out
