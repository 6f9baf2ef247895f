"""pipeline.runs.api.load_run returns what it documents."""

from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from pipeline.runs.api import Run, load_run
from pipeline.config.schema import Config
from pipeline.errors import MissingArtifactError
from pipeline.outputs.figures import plt

pytestmark = pytest.mark.slow  # a finished run


@pytest.fixture(scope="module")
def run(finished_run) -> Run:
    return load_run(finished_run)


def test_config_and_manifest(run, finished_run):
    assert isinstance(run.config, Config) and run.config.name == "tiny"
    assert run.config.run_dir == finished_run and run.path == finished_run
    assert run.manifest["stages"]["export"]["status"] == "done"
    assert run.targets == ["consumption_pc_day", "asset_index"]
    assert list(run.stages.columns) == ["stage", "status", "seconds", "finished", "counts"]
    assert "predict" in set(run.stages["stage"])


def test_metrics_frame_matches_metrics_json(run, finished_run):
    metrics = json.loads((finished_run / "fit" / "metrics.json").read_text())
    frame = run.metrics
    assert isinstance(frame, pd.DataFrame)
    assert {"target", "scheme", "subset", "predictor", "n", "r2", "pearson_r2", "rmse"} <= set(frame)
    assert {"model", "nightlights"} <= set(frame["predictor"])
    entry = metrics["targets"]["asset_index"]["schemes"]["random"]["all"]
    row = frame.query("target == 'asset_index' and scheme == 'random' and subset == 'all' "
                      "and predictor == 'model'").iloc[0]
    assert row["r2"] == pytest.approx(entry["model"]["r2"])
    assert row["n"] == entry["n"]


def test_clusters_and_predictions_are_geodataframes(run):
    clusters = run.clusters
    assert isinstance(clusters, gpd.GeoDataFrame) and clusters.crs.to_epsg() == 4326
    assert clusters["cv_predicted_consumption_pc_day"].gt(0).all()  # back in outcome units
    assert clusters["cv_predicted_asset_index"].notna().all()
    cv = run.cv_predictions
    first = cv[(cv["target"] == "asset_index") & (cv["scheme"] == "random")].iloc[0]
    match = clusters.set_index(clusters["cluster_id"].astype(str)).loc[str(first["cluster_id"])]
    assert match["cv_predicted_asset_index"] == pytest.approx(first["predicted"])
    predictions = run.predictions
    assert isinstance(predictions, gpd.GeoDataFrame) and len(predictions) == 100
    assert {"cell_id", "n_tiles", "pred_consumption_pc_day", "pred_asset_index"} <= set(predictions)


def test_features_is_a_read_only_memmap(run):
    features = run.features()
    assert isinstance(features, np.memmap) and features.dtype == np.float32
    assert features.shape == (100, 256) and not features.flags.writeable


def test_model_loads_with_safe_mode_and_has_the_feature_layer(run):
    model = run.model()
    assert model.get_layer("features") is not None
    assert model.output_shape[-1] == 3  # three nightlight classes


def test_model_loads_in_a_fresh_interpreter(run):
    """Nothing else imported first: the pipeline's own layers must register themselves."""
    code = ("import sys; from pipeline.runs.api import load_run; "
            f"model = load_run({str(run.path)!r}).model(); "
            "print('SHAPE', tuple(model.inputs[0].shape[1:]), model.get_layer('features').name)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    shape = run.model().inputs[0].shape[1:]
    assert f"SHAPE {tuple(shape)} features" in done.stdout


def test_plots_return_figures(run):
    fig = run.plot_map(target="asset_index")
    assert "asset_index" in fig.axes[0].get_title()
    plt.close(fig)
    fig = run.plot_scatter("consumption_pc_day", scheme="spatial")
    assert fig.axes[0].get_title().startswith("spatial CV: R² ")
    assert fig.axes[0].get_xlabel() == "observed log consumption_pc_day"
    plt.close(fig)


def test_export_to_another_grid_without_rerunning(run, tmp_path):
    written = run.export(["parquet"], out=tmp_path, grid={"kind": "quadkey", "zoom": 14})
    cells = gpd.read_parquet(written[0])
    assert cells["cell_id"].str.len().eq(14).all() and cells["n_tiles"].sum() == 100
    assert not (run.path / "export" / "predictions.parquet").samefile(written[0])


def test_load_run_errors_say_what_to_do(tmp_path):
    with pytest.raises(MissingArtifactError, match="no such run directory"):
        load_run(tmp_path / "absent")
    with pytest.raises(MissingArtifactError, match="no saved config"):
        load_run(tmp_path)
