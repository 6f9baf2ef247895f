"""A developer's check on a demo world: how much true wealth each tile feature set carries.

``python -m pipeline.demo.truth_check RUN_DIR WORLD_DIR`` prints, for the features a run computed
(``extract/features.npy``, the ``baselines`` stage's ImageNet and random features, and the
nightlights of ``label``), the R² of a ridge regression from a tile's features to the world's true
mean wealth in that tile (``truth.npz``), cross-validated over spatial blocks of
``BLOCK_TILES`` x ``BLOCK_TILES`` tiles, over all tiles and over the poorer half.

The pipeline never reads the generator's truth; this diagnosis does, and only to explain what the
survey evaluation shows. It separates the quality of the features from what the survey adds
(household noise, displaced coordinates, the aggregation radius): on the default demo world the
fine-tuned features carried less tile wealth than the untrained ImageNet ones, which located the
problem in training rather than in aggregation or the survey.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

BLOCK_TILES = 8
ALPHAS = np.logspace(-3, 5, 17)
FEATURE_FILES = {"finetuned": "extract/features.npy",
                 "imagenet": "baselines/imagenet_features.npy",
                 "random_features": "baselines/random_features.npy"}


def wealth_r2(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> float:
    """Out-of-block R² of standardised ridge (alpha by leave-one-out inside each fold).

    Args:
        x: (n, d) features; y: (n,) true wealth; groups: (n,) spatial block of each row.
    """
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=ALPHAS))
    folds = GroupKFold(n_splits=min(5, len(np.unique(groups))))
    pred = cross_val_predict(model, x, y, groups=groups, cv=folds)
    return float(1.0 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def tile_feature_sets(run_dir: Path) -> dict[str, np.ndarray]:
    """The run's tile features that exist, and log(1 + nightlights) mean and max per tile."""
    sets = {name: np.load(run_dir / file) for name, file in FEATURE_FILES.items()
            if (run_dir / file).is_file()}
    labels = pd.read_parquet(run_dir / "label" / "labels.parquet")
    sets["nightlights"] = np.log1p(np.clip(
        labels[["radiance_mean", "radiance_max"]].to_numpy(dtype=np.float64), 0.0, None))
    return sets


def truth_check(run_dir: Path, world_dir: Path) -> pd.DataFrame:
    """R² of each feature set for true tile wealth: columns ``all`` and ``poorer_half``."""
    catalog = pd.read_parquet(run_dir / "ingest" / "tiles.parquet", columns=["tile_id"])
    rc = catalog["tile_id"].str.extract(r"r(\d+)_c(\d+)").astype(int).to_numpy()
    wealth = np.load(world_dir / "truth.npz")["wealth_tile"]
    y = wealth[rc[:, 0], rc[:, 1]].astype(np.float64)
    groups = (rc[:, 0] // BLOCK_TILES) * 100_000 + rc[:, 1] // BLOCK_TILES
    poor = y <= np.median(y)
    rows = {name: {"all": wealth_r2(x, y, groups),
                   "poorer_half": wealth_r2(x[poor], y[poor], groups[poor])}
            for name, x in tile_feature_sets(run_dir).items()}
    return pd.DataFrame(rows).T.round(3)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.demo.truth_check",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("world_dir", type=Path)
    args = parser.parse_args(argv)
    for path in (args.run_dir / "ingest" / "tiles.parquet", args.world_dir / "truth.npz"):
        if not path.is_file():
            print(f"error: {path} not found: give a finished run of a demo world and that "
                  "world's folder.", file=sys.stderr)
            return 2
    print(truth_check(args.run_dir, args.world_dir).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
