"""Too few clusters for cross-validation: ingest stops below the least any CV needs (it reads no
``regression.folds``, which is not in its fingerprint); ``fit`` checks the configured folds and
names the file, the target and the fix."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest

from pipeline.config.schema import load_config
from pipeline.errors import InputDataError
from pipeline.engine.runner import run_pipeline
from pipeline.stages import PIPELINE
from pipeline.stages import fit, ingest


def test_ingest_does_not_read_regression_folds(make_tiny_config, tmp_path) -> None:
    assert not any(key.startswith("regression.folds") for key in ingest.STAGE.config)
    path = make_tiny_config(tmp_path, regression={"folds": 50})  # 80 clusters < 2 x 50
    run_pipeline(load_config(path, env={}), PIPELINE, until_stage="ingest", quiet=True, progress=False)
    clusters = gpd.read_parquet(tmp_path / "run" / "ingest" / "clusters.parquet")
    assert len(clusters) == 80


def aggregate_folder(run_dir, n_usable: int, n_unusable: int) -> None:
    """A fake ``aggregate/`` output: clusters (some unusable) and their feature arrays."""
    n = n_usable + n_unusable
    rng = np.random.default_rng(0)
    out = run_dir / "aggregate"
    out.mkdir(parents=True)
    lon, lat = 34.8 + rng.uniform(0, 0.1, n), -13.5 + rng.uniform(0, 0.1, n)
    gpd.GeoDataFrame({"cluster_id": [f"c{i}" for i in range(n)], "lon": lon, "lat": lat,
                      "consumption_pc_day": rng.uniform(1, 5, n), "asset_index": rng.normal(0, 1, n),
                      "nl_mean": rng.uniform(0, 5, n), "nl_max": rng.uniform(5, 9, n),
                      "usable": np.arange(n) < n_usable},
                     geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_parquet(
        out / "clusters.parquet")
    for name, dim in (("cluster_features", 4), ("imagenet_features", 0), ("random_features", 0)):
        np.save(out / f"{name}.npy", rng.normal(0, 1, (n, dim)).astype(np.float32))


def test_fit_names_the_file_the_target_and_the_fix(make_tiny_config, tmp_path,
                                                   stage_runner) -> None:
    config = load_config(make_tiny_config(tmp_path, regression={"folds": 4}), env={})
    aggregate_folder(config.run_dir, n_usable=7, n_unusable=3)
    expected = (rf"{config.run_dir / 'aggregate' / 'clusters.parquet'}: only 7 usable clusters "
                r"for target 'consumption_pc_day'; regression.folds=4 needs at least 8\. "
                r"Lower regression.folds or add survey clusters near the tiles\.")
    with pytest.raises(InputDataError, match=expected):
        stage_runner(fit, config)
