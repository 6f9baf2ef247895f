"""The whole pipeline on a tiny demo world: the run-directory contract, caching, reruns."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import yaml

from pipeline.config.schema import load_config
from pipeline.evaluation.folds import share_tested_near_training, spatial_folds
from pipeline.engine.runner import run_pipeline
from pipeline.stages import PIPELINE

pytestmark = pytest.mark.slow  # a whole pipeline run

CONTRACT = {
    "ingest": ["tiles.parquet", "clusters.parquet", "rejected.csv", "scaling.json", "cache"],
    "label": ["labels.parquet", "bins.json", "histogram.png"],
    "train": ["model.keras", "history.csv", "metrics.json"],
    "extract": ["features.npy", "index.parquet"],
    "baselines": ["imagenet_features.npy", "random_features.npy"],
    "aggregate": ["cluster_features.npy", "imagenet_features.npy", "random_features.npy",
                  "clusters.parquet"],
    "fit": ["metrics.json", "cv_predictions.csv", "model.json"],
    "predict": ["grid.parquet"],
    "export": ["predictions.tif", "predictions.gpkg", "predictions.parquet", "predictions.csv",
               "map.png", "map.html", "report.html"],
}


@pytest.fixture(scope="module")
def tiny_run(make_tiny_config, tmp_path_factory):
    path = make_tiny_config(tmp_path_factory.mktemp("e2e"))
    config = load_config(path, env={})
    outcomes = run_pipeline(config, PIPELINE, quiet=True, progress=False)
    return path, config, outcomes


def test_every_contract_file_is_written(tiny_run):
    _, config, outcomes = tiny_run
    assert [o.status for o in outcomes] == ["done"] * len(CONTRACT)
    for stage, files in CONTRACT.items():
        for name in files:
            assert (config.run_dir / stage / name).exists(), f"{stage}/{name}"
    manifest = json.loads((config.run_dir / "manifest.json").read_text())
    assert set(manifest["stages"]) == set(CONTRACT)
    assert manifest["stages"]["ingest"]["counts"]["clusters_rejected"] == 2
    lines = (config.run_dir / "run.log").read_text().splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)


def test_artifacts_agree_with_each_other(tiny_run):
    _, config, _ = tiny_run
    run = config.run_dir
    tiles = gpd.read_parquet(run / "ingest" / "tiles.parquet")
    assert len(tiles) == 100 and tiles.crs.to_epsg() == 4326
    cache = np.load(run / "ingest" / "cache" / "shard_00000.npy")
    assert cache.shape == (40, 32, 32, 3) and cache.dtype == np.uint8
    rejected = pd.read_csv(run / "ingest" / "rejected.csv")
    assert rejected["reason"].str.contains("missing-GPS").sum() == 2
    labels = pd.read_parquet(run / "label" / "labels.parquet")
    assert (labels["tile_id"] == tiles["tile_id"]).all()
    features = np.load(run / "extract" / "features.npy")
    assert features.shape == (100, 256) and features.dtype == np.float32
    clusters = gpd.read_parquet(run / "aggregate" / "clusters.parquet")
    cluster_features = np.load(run / "aggregate" / "cluster_features.npy")
    assert cluster_features.shape == (len(clusters), 256)
    grid = gpd.read_parquet(run / "predict" / "grid.parquet")
    assert len(grid) == 100 and grid["pred_consumption_pc_day"].gt(0).all()
    with rasterio.open(run / "export" / "predictions.tif") as src:
        assert src.crs.to_epsg() == 32736
        assert (src.width, src.height) == (10, 10)
        assert src.descriptions == ("pred_consumption_pc_day", "pred_asset_index",
                                    "lower_consumption_pc_day", "lower_asset_index",
                                    "upper_consumption_pc_day", "upper_asset_index")
        band = src.read(1)
    # the raster's pixel for a tile holds that tile's prediction
    first = grid.iloc[0]
    with rasterio.open(run / "export" / "predictions.tif") as src:
        from pyproj import Transformer

        x, y = Transformer.from_crs(4326, src.crs, always_xy=True).transform(first.lon, first.lat)
        row, col = src.index(x, y)
    assert band[row, col] == pytest.approx(first.pred_consumption_pc_day, rel=1e-5)
    gpkg = gpd.read_file(run / "export" / "predictions.gpkg", layer="predictions")
    assert len(gpkg) == 100 and gpkg.crs.to_epsg() == 4326


def test_fit_metrics_have_every_target_scheme_and_subset(tiny_run):
    _, config, _ = tiny_run
    metrics = json.loads((config.run_dir / "fit" / "metrics.json").read_text())
    for target in ("consumption_pc_day", "asset_index"):
        schemes = metrics["targets"][target]["schemes"]
        assert set(schemes) == {"random", "spatial", "country"}
        assert schemes["country"] == {"skipped": "the survey has no country column "
                                                  "(data.survey.country)"}
        for name in ("random", "spatial"):
            scheme = schemes[name]
            percentiles = {f"below_p{p}" for p in range(10, 100, 10)}
            assert set(scheme) == {"all", "urban", "rural"} | percentiles
            assert "skipped" in scheme["below_p20"]  # 16 clusters are too few to score
            for key in ("r2", "pearson_r2", "rmse", "spearman"):
                for model in ("model", "nightlights", "nightlights_knn", "random_features",
                              "imagenet", "region_mean"):
                    assert np.isfinite(scheme["all"][model][key])
            low, high = scheme["all"]["model"]["r2_ci"]
            assert low <= scheme["all"]["model"]["r2"] <= high
            gains = scheme["all"]["model_vs"]
            assert set(gains) == {"nightlights", "nightlights_knn", "random_features",
                                  "imagenet", "region_mean"}
            for baseline, gain in gains.items():
                assert gain["r2_gain"] == pytest.approx(
                    scheme["all"]["model"]["r2"] - scheme["all"][baseline]["r2"])
                assert gain["r2_gain_ci"][0] <= gain["r2_gain"] <= gain["r2_gain_ci"][1]
    spatial = metrics["targets"]["asset_index"]["spatial_cv"]
    assert spatial["neighbourhood_reach_km"] == 2 * config.aggregate.radius_km
    assert spatial["buffer_km"] == config.regression.buffer_km == 0
    clusters = gpd.read_parquet(config.run_dir / "aggregate" / "clusters.parquet")
    clusters = clusters[clusters["usable"]]
    lon, lat = clusters["lon"].to_numpy(), clusters["lat"].to_numpy()
    folds = spatial_folds(lon, lat, config.regression.folds, config.regression.spatial_block_km,
                          config.seed)
    assert spatial["test_share_sharing_tiles"] == pytest.approx(
        share_tested_near_training(lon, lat, folds, 2 * config.aggregate.radius_km), abs=1e-4)
    cv = pd.read_csv(config.run_dir / "fit" / "cv_predictions.csv")
    assert set(cv["scheme"]) == {"random", "spatial"}
    assert cv.groupby(["target", "scheme"]).size().nunique() == 1


def test_baselines_intervals_and_ood_reach_predict(tiny_run):
    _, config, _ = tiny_run
    run = config.run_dir
    imagenet = np.load(run / "baselines" / "imagenet_features.npy")
    random_features = np.load(run / "baselines" / "random_features.npy")
    assert imagenet.shape == (100, 256) and random_features.shape == (100, 512)
    assert random_features.dtype == np.float32 and (random_features >= 0).all()
    clusters = gpd.read_parquet(run / "aggregate" / "clusters.parquet")
    assert np.load(run / "aggregate" / "random_features.npy").shape == (len(clusters), 512)
    models = json.loads((run / "fit" / "model.json").read_text())
    metrics = json.loads((run / "fit" / "metrics.json").read_text())
    for target, model in models.items():
        interval, stated = model["interval"], metrics["targets"][target]["interval"]
        assert interval["coverage"] == stated["coverage"] == 0.9
        assert interval["method"] == stated["map_method"] == "cv_plus"
        assert len(interval["fold_models"]) == stated["folds"] >= 2
        assert len(interval["residuals"]) == stated["calibration_clusters"]
        assert "1 - 2 alpha" in stated["guarantee"]  # CV+ promises 1 - 2 alpha, not 1 - alpha
        for method in ("naive_cv", "cv_plus", "normalised"):  # measured on held-out blocks
            assert 0 <= stated["methods"][method]["held_out_coverage"] <= 1
        assert model["ood"]["threshold"] > 0
        assert (run / "fit" / f"{target}_predicted_vs_observed.png").stat().st_size > 0
        assert (run / "fit" / f"{target}_r2_by_percentile.png").stat().st_size > 0
        assert (run / "fit" / f"{target}_nightlights.png").stat().st_size > 0
    grid = gpd.read_parquet(run / "predict" / "grid.parquet")
    for target in models:
        pred, low, high = (grid[f"{k}_{target}"] for k in ("pred", "lower", "upper"))
        assert (low < high).all() and ((low <= pred) & (pred <= high)).mean() > 0.9
        assert grid[f"ood_{target}"].dtype == bool
    log_width = np.log(grid["upper_consumption_pc_day"] / grid["lower_consumption_pc_day"])
    assert np.isfinite(log_width).all() and (log_width > 0).all()


def test_rerun_skips_everything_then_regression_edit_reruns_three(tiny_run, spied_pipeline):
    path, config, _ = tiny_run
    stages, calls = spied_pipeline
    outcomes = run_pipeline(config, stages, quiet=True, progress=False)
    assert calls == []
    assert {o.status for o in outcomes} == {"skipped"}
    data = yaml.safe_load(path.read_text())
    data["regression"]["alphas"] = [0.1, 10.0, 1000.0]
    path.write_text(yaml.safe_dump(data))
    run_pipeline(load_config(path, env={}), stages, quiet=True, progress=False)
    assert calls == ["fit", "predict", "export"]
