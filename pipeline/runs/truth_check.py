"""A developer's check of a run on a demo world: how much true wealth each tile feature set carries.

``python -m pipeline.runs.truth_check RUN_DIR WORLD_DIR`` prints, for the features a run computed
(``extract/features.npy``, the ``baselines`` stage's ImageNet and random features, and the
nightlights of ``label``), the R² of a ridge regression from a tile's features to the world's true
mean wealth in that tile (``truth.npz``), cross-validated over spatial blocks of
``BLOCK_TILES`` x ``BLOCK_TILES`` tiles, over all tiles and over the poorer half.

Then, at the survey's level, it adds a ``truth`` predictor to the run's own evaluation: ridge on
the true mean wealth of the very tiles each cluster aggregates (and its square), cross-validated
on the run's folds beside the image model and its baselines (:func:`cluster_truth`). That is what
perfect tile features would score through the same survey (household noise, displaced
coordinates, the aggregation radius), and the model's paired gain over it says how much room the
features leave.

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

from pipeline.config.schema import load_config
from pipeline.engine.rundir import RunDir
from pipeline.evaluation.design import build_predictors, survey_of, target_values
from pipeline.evaluation.evaluate import evaluate
from pipeline.evaluation.predictors import Predictor
from pipeline.evaluation.settings import CvSettings
from pipeline.geo.neighbours import Neighbourhood

BLOCK_TILES = 8
ALPHAS = np.logspace(-3, 5, 17)
FEATURE_FILES = {"finetuned": ("extract", "features.npy"),
                 "imagenet": ("baselines", "imagenet_features.npy"),
                 "random_features": ("baselines", "random_features.npy")}
CLUSTER_FEATURES = {"model": "cluster_features.npy", "imagenet": "imagenet_features.npy",
                    "random_features": "random_features.npy"}
TRUTH_FILE = "truth.npz"


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
    run = RunDir(run_dir)
    found = {name: run.artifact(stage, file, required=False)
             for name, (stage, file) in FEATURE_FILES.items()}
    sets = {name: np.load(path) for name, path in found.items() if path is not None}
    labels = pd.read_parquet(run.artifact("label", "labels.parquet"))
    sets["nightlights"] = np.log1p(np.clip(
        labels[["radiance_mean", "radiance_max"]].to_numpy(dtype=np.float64), 0.0, None))
    return sets


def tile_wealth(run_dir: Path, world_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(true wealth, (row, col) in the world's grid) of every catalog tile of the run."""
    catalog = pd.read_parquet(RunDir(run_dir).artifact("ingest", "tiles.parquet"),
                              columns=["tile_id"])
    rc = catalog["tile_id"].str.extract(r"r(\d+)_c(\d+)").astype(int).to_numpy()
    wealth = np.load(world_dir / TRUTH_FILE)["wealth_tile"]
    return wealth[rc[:, 0], rc[:, 1]].astype(np.float64), rc


def truth_check(run_dir: Path, world_dir: Path) -> pd.DataFrame:
    """R² of each feature set for true tile wealth: columns ``all`` and ``poorer_half``."""
    y, rc = tile_wealth(run_dir, world_dir)
    groups = (rc[:, 0] // BLOCK_TILES) * 100_000 + rc[:, 1] // BLOCK_TILES
    poor = y <= np.median(y)
    rows = {name: {"all": wealth_r2(x, y, groups),
                   "poorer_half": wealth_r2(x[poor], y[poor], groups[poor])}
            for name, x in tile_feature_sets(run_dir).items()}
    return pd.DataFrame(rows).T.round(3)


def cluster_truth(run_dir: Path, world_dir: Path) -> pd.DataFrame:
    """The run's survey evaluation with a ``truth`` predictor added (see the module docstring).

    Returns:
        One row per target, scheme and subset (``all``, ``below_p50``): R² of ``truth``, of the
        image model and of each image baseline, and the model's paired gain over ``truth`` with
        its 95% interval.
    """
    run = RunDir(run_dir)
    config = load_config(run.config_file, env={})
    clusters = pd.read_parquet(run.artifact("aggregate", "clusters.parquet"))
    index = pd.read_parquet(run.artifact("extract", "index.parquet"))
    wealth = tile_wealth(run_dir, world_dir)[0][index["row"].to_numpy()]
    around = Neighbourhood(config.aggregate.radius_km, config.aggregate.box_km)
    groups = around.members(index["lon"].to_numpy(), index["lat"].to_numpy(),
                            clusters["lon"].to_numpy(), clusters["lat"].to_numpy())
    means = np.array([wealth[g].mean() if len(g) else np.nan for g in groups])
    features = {name: np.load(run.artifact("aggregate", file))
                for name, file in CLUSTER_FEATURES.items()}
    cfg = config.regression.model_copy(update={"poor_percentiles": (50.0,)})
    rows = []
    for target in cfg.targets:
        y, keep = target_values(clusters, target.column, target.log)
        use = np.flatnonzero(clusters["usable"].to_numpy() & keep & np.isfinite(means))
        sub = clusters.iloc[use]
        predictors = build_predictors(sub, {k: v[use] for k, v in features.items()},
                                      cfg.baselines)
        predictors = {name: p for name, p in predictors.items()
                      if name in ("model", "imagenet", "random_features")}
        predictors["truth"] = Predictor("ridge", np.column_stack([means[use], means[use] ** 2]))
        metrics, _ = evaluate(survey_of(sub, y[use], target.column), predictors,
                              CvSettings.of(cfg), config.seed)
        for scheme, subsets in metrics.items():
            for subset in ("all", "below_p50"):
                entry = subsets.get(subset, {})
                if "truth" not in entry:
                    continue
                gain = entry["model_vs"]["truth"]
                rows.append({"target": target.column, "scheme": scheme, "subset": subset,
                             **{name: round(entry[name]["r2"], 3) for name in predictors},
                             "model_minus_truth": round(gain["r2_gain"], 3),
                             "ci": [round(v, 3) for v in gain.get("r2_gain_ci", [])]})
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.runs.truth_check",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("world_dir", type=Path)
    args = parser.parse_args(argv)
    run = RunDir(args.run_dir)
    needed = [run.config_file, run.output("ingest", "tiles.parquet"),
              run.output("extract", "index.parquet"), run.output("aggregate", "clusters.parquet"),
              args.world_dir / TRUTH_FILE]
    for path in needed:
        if not path.is_file():
            print(f"error: {path} not found: give a finished run of a demo world and that "
                  "world's folder.", file=sys.stderr)
            return 2
    print("tile features -> true tile wealth (R², spatial-block CV):")
    print(truth_check(args.run_dir, args.world_dir).to_string())
    print("\nsurvey outcomes, on the run's folds; truth = the true mean wealth of each "
          "cluster's tiles (R²):")
    print(cluster_truth(args.run_dir, args.world_dir).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
