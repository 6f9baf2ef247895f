"""Feature preprocessing fitted on training rows only (inside each CV fold).

Real cluster feature tables are heavy-tailed (radiance), sparse (histogram bins that are almost
always zero) and collinear. Before ridge, on the training rows of a fold:

1. missing values are filled with the column's training median;
2. a column that is non-negative and right-skewed (sample skewness > 2) is replaced by
   ``log1p`` of itself (``regression.log_skewed``), so a few very bright clusters do not set the
   whole coefficient;
3. a column is dropped when it is constant, or when fewer than ``max(3, 1% of rows)`` rows differ
   from its median (a bin that is almost always zero carries no estimable signal, and after
   standardising its few non-zero values would be huge);
4. the kept columns are standardised (mean 0, sd 1), so one ridge penalty fits all of them;
5. rows transformed later (held-out clusters, map tiles) are first clipped, column by column, to the
   range the training rows spanned. Without this a column that was nearly constant in training (a
   feature that rarely fires, with a tiny standard deviation) can be thousands of standard
   deviations out on one held-out cluster, and a linear model extrapolates it into an absurd
   prediction; with it, no prediction leaves the range the training design could produce.

Collinearity is left to ridge itself, with a wide alpha grid (1e-3 … 1e6) chosen by leave-one-out
inside the fold. Held-out rows only ever see the transform fitted on the training rows.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import skew

SKEW_THRESHOLD = 2.0
MIN_SUPPORT_SHARE = 0.01
MIN_SUPPORT_ROWS = 3


@dataclass(frozen=True)
class Preprocessor:
    """A fitted transform: select ``keep`` columns, fill, log1p, clip to ``low``..``high``,
    standardise.

    All lists except ``keep`` are aligned with the kept columns; ``low``/``high`` are the
    training range after log1p.
    """

    keep: list[int]
    fill: list[float]
    log1p: list[bool]
    mean: list[float]
    scale: list[float]
    low: list[float]
    high: list[float]

    @classmethod
    def fit(cls, x: np.ndarray, log_skewed: bool = True) -> Preprocessor:
        """Learn the transform from training rows ``x`` (n, d), NaN allowed."""
        x = np.asarray(x, dtype=np.float64)
        finite = np.isfinite(x)
        usable = np.flatnonzero(finite.any(axis=0))
        fill = np.array([np.median(x[finite[:, j], j]) for j in usable])
        z = _filled(x[:, usable], fill)
        logs = _skewed(z) if log_skewed else np.zeros(len(usable), dtype=bool)
        z[:, logs] = np.log1p(z[:, logs])
        support = (np.abs(z - np.median(z, axis=0)) > 1e-12).sum(axis=0)
        enough = support >= max(MIN_SUPPORT_ROWS, int(np.ceil(MIN_SUPPORT_SHARE * len(z))))
        z = z[:, enough]
        return cls(usable[enough].tolist(), fill[enough].tolist(), logs[enough].tolist(),
                   z.mean(axis=0).tolist(), np.maximum(z.std(axis=0), 1e-12).tolist(),
                   z.min(axis=0).tolist(), z.max(axis=0).tolist())

    def transform(self, x: np.ndarray, clip: bool = True) -> np.ndarray:
        """The standardised design for rows ``x`` (n, d) with the training columns; float64.

        ``clip=False`` skips step 5 (the clip to the training range): the out-of-distribution
        check measures how far beyond that range a place lies.
        """
        z = _filled(np.asarray(x, dtype=np.float64)[:, self.keep], np.asarray(self.fill))
        logs = np.asarray(self.log1p, dtype=bool)
        z[:, logs] = np.log1p(np.clip(z[:, logs], 0.0, None))
        if clip:
            z = np.clip(z, np.asarray(self.low), np.asarray(self.high))
        return (z - np.asarray(self.mean)) / np.asarray(self.scale)

    def to_dict(self) -> dict[str, list]:
        return asdict(self)


def _filled(x: np.ndarray, fill: np.ndarray) -> np.ndarray:
    x = x.copy()
    missing = ~np.isfinite(x)
    x[missing] = np.broadcast_to(fill, x.shape)[missing]
    return x


def _skewed(z: np.ndarray) -> np.ndarray:
    """Columns that are non-negative with a heavy right tail (skewness > 2)."""
    if len(z) < 3:
        return np.zeros(z.shape[1], dtype=bool)
    spread = z.std(axis=0) > 0
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # near-constant columns: skew is 0 then
        sk = np.where(spread, skew(z, axis=0), 0.0)
    return (z.min(axis=0) >= 0) & (np.nan_to_num(sk) > SKEW_THRESHOLD)
