"""The ridge's grouped choice of alpha: one SVD per inner fold for all alphas vs a grid search.

``pipeline.evaluation.ridge.grouped_alpha`` gets every alpha's held-out predictions from one SVD
of each inner fold's training rows; scikit-learn's ``GridSearchCV`` over ``Ridge`` refits the
ridge for each alpha and fold. Both choose among the same alphas on the same grouped folds
(checked: the same alpha). Sizes as a survey gives them: ``--clusters`` rows (default 500) of
``--features`` columns (default 256, the demo backbone's features), 10 alphas, 5 inner folds, one
BLAS thread (as the fit stage runs them).

Usage: ``python benchmarks/ridge_alpha.py``. The last line::

    RESULT svd_seconds=<a> grid_seconds=<b> grid_over_svd=<b/a>
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_limits

from pipeline.evaluation.ridge import grouped_alpha, inner_folds
from pipeline.evaluation.settings import DEFAULT_ALPHAS


def best_of(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clusters", type=int, default=500)
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    z = rng.normal(size=(args.clusters, args.features))
    y = z[:, :5].sum(axis=1) + rng.normal(scale=2.0, size=args.clusters)
    groups = rng.integers(0, 40, args.clusters)
    alphas = np.asarray(DEFAULT_ALPHAS)
    with threadpool_limits(1):
        svd_s, svd_alpha = best_of(lambda: grouped_alpha(z, y, alphas, groups), args.repeats)
        search = GridSearchCV(Ridge(), {"alpha": list(alphas)}, cv=inner_folds(groups),
                              scoring="neg_mean_squared_error")
        grid_s, fitted = best_of(lambda: search.fit(z, y, groups=groups), args.repeats)
    grid_alpha = fitted.best_params_["alpha"]
    print(f"{args.clusters} clusters x {args.features} features, {len(alphas)} alphas: one SVD "
          f"per fold {svd_s * 1e3:.1f} ms (alpha {svd_alpha:g}), grid search {grid_s * 1e3:.1f} ms "
          f"(alpha {grid_alpha:g})")
    print(f"RESULT svd_seconds={svd_s:.4f} grid_seconds={grid_s:.4f} "
          f"grid_over_svd={grid_s / svd_s:.1f}")


if __name__ == "__main__":
    main()
