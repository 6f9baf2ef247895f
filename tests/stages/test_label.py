"""The label stage on tiny worlds and real rasters (its algorithms: tests/evaluation/
test_light_classes.py)."""

import numpy as np

import json

import geopandas as gpd
import pandas as pd
import pytest
import rasterio
import yaml
from rasterio.transform import from_origin
from shapely.geometry import box

from pipeline.config.schema import LabelsConfig, load_config
from pipeline.errors import InputDataError
from pipeline.evaluation.light_classes import assign_classes, class_thresholds
from pipeline.geo.blocks import context_boxes
from pipeline.geo.nightlights import sample_footprints
from pipeline.stages import ingest, label


def test_fixed_thresholds_are_checked_in_the_config():
    with pytest.raises(ValueError, match="labels.thresholds: method fixed needs n_classes - 1 = 2"):
        LabelsConfig(method="fixed", n_classes=3, thresholds=(1.0,))
    with pytest.raises(ValueError, match="strictly ascending"):
        LabelsConfig(method="fixed", n_classes=3, thresholds=(2.0, 1.0))
    with pytest.raises(ValueError, match="only used with labels.method: fixed"):
        LabelsConfig(method="gmm", thresholds=(1.0, 2.0))


@pytest.mark.slow
def test_label_stage_writes_classes_histogram_balance_and_year_gaps(
        make_tiny_config, tmp_path, stage_runner):
    path = make_tiny_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["data"]["nightlights"]["year"] = 2012  # the tiny survey is from 2016
    data["data"]["survey"]["year"] = "year"
    data["labels"] = {"method": "fixed", "n_classes": 3, "thresholds": [0.05, 0.5],
                      "balance": True, "max_dark_ratio": 1.0}
    path.write_text(yaml.safe_dump(data))
    config = load_config(path, env={})
    stage_runner(ingest, config)
    counts = stage_runner(label, config)
    out = config.run_dir / "label"
    table = pd.read_parquet(out / "labels.parquet")
    expected = assign_classes(table["radiance_mean"].to_numpy(), np.array([0.05, 0.5]))
    assert (table["label"].to_numpy() == expected).all()
    n = np.bincount(expected, minlength=3)
    assert [counts[f"class_{k}"] for k in range(3)] == n.tolist()
    assert n[0] > max(n[1:])  # the dark class dominates the tiny world, so it is cut
    assert counts["train_ok"] == table["train_ok"].sum() == max(n[1:]) + n[1] + n[2]
    assert table.loc[table["label"] > 0, "train_ok"].all()
    bins = json.loads((out / "bins.json").read_text())
    assert bins["thresholds"] == [0.05, 0.5] and bins["counts"] == n.tolist()
    assert bins["temporal"]["gaps_years"] == {"nightlights_survey": 4}
    assert counts["temporal_warnings"] == 1 and counts["year_gap_nightlights_survey"] == 4
    assert (out / "histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_real_viirs_sampled_over_pixel_aligned_boxes(shared_data):
    path = shared_data / "nightlights" / "burundi_viirs_2016.tif"
    with rasterio.open(path) as src:
        values = src.read(1, masked=True)
        left, top, res = src.transform.c, src.transform.f, src.transform.a
    boxes, expected = [], []
    for r in range(0, 520 - 12, 12):  # 12 x 12 pixel blocks (0.05 degrees) over the raster
        for c in range(0, 445 - 12, 12):
            boxes.append(box(left + c * res, top - (r + 12) * res, left + (c + 12) * res, top - r * res))
            block = values[r:r + 12, c:c + 12].compressed()
            expected.append((block.mean(), block.max()) if block.size else (np.nan, np.nan))
    stats = sample_footprints(boxes, path)
    # coverage-weighted: a box's edge pixels are covered by 1 - O(1e-7) in floating point
    np.testing.assert_allclose(stats, np.array(expected), rtol=1e-6)
    finite = stats[np.isfinite(stats[:, 0]), 0]
    assert np.isnan(stats[:, 0]).sum() > 100  # blocks outside Burundi are all nodata
    assert np.median(finite) < 0.2 and finite.max() > 2  # dark countryside, lit Bujumbura
    thresholds = class_thresholds(finite, "gmm", 3, seed=0)
    counts = np.bincount(assign_classes(finite, thresholds), minlength=3)
    assert counts[0] > counts[1] > counts[2] > 0


def test_dmsp_digital_numbers_get_quantile_classes(tmp_path, tif_writer):
    dn = np.repeat(np.arange(0, 64, dtype=np.uint8)[None, :], 8, axis=0)[None]  # 0..63 by column
    path = tif_writer(tmp_path / "dmsp_f18_2012.tif", dn, crs="EPSG:4326",
                      transform=from_origin(30.0, -2.0, 0.01, 0.01))
    boxes = [box(30.0 + c * 0.01, -2.08, 30.0 + (c + 4) * 0.01, -2.0) for c in range(0, 64, 4)]
    stats = sample_footprints(boxes, path)
    np.testing.assert_allclose(stats[:, 0], [c + 1.5 for c in range(0, 64, 4)], rtol=1e-9)
    assert stats[:, 1].tolist() == [c + 3 for c in range(0, 64, 4)]
    labels = assign_classes(stats[:, 0], class_thresholds(stats[:, 0], "quantile", 4, seed=0))
    assert np.bincount(labels).tolist() == [4, 4, 4, 4]


@pytest.mark.slow
def test_context_label_is_the_light_of_the_surroundings(make_tiny_config, tmp_path, stage_runner):
    path = make_tiny_config(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["labels"] = {"method": "quantile", "n_classes": 2, "context_km": 5.0}
    path.write_text(yaml.safe_dump(data))
    config = load_config(path, env={})
    stage_runner(ingest, config)
    stage_runner(label, config)
    table = pd.read_parquet(config.run_dir / "label" / "labels.parquet")
    footprints = gpd.read_parquet(config.run_dir / "ingest" / "tiles.parquet").geometry
    expected = sample_footprints(context_boxes(footprints, 5.0), config.data.nightlights.path)
    np.testing.assert_allclose(table["label_radiance"], expected[:, 0])
    own = sample_footprints(list(footprints), config.data.nightlights.path)
    np.testing.assert_allclose(table["radiance_mean"], own[:, 0])  # own light kept for baselines
    assert not np.allclose(table["label_radiance"], table["radiance_mean"])
    assert np.ptp(table["label_radiance"]) < np.ptp(table["radiance_mean"])  # a wider mean is smoother
    thresholds = json.loads((config.run_dir / "label" / "bins.json").read_text())["thresholds"]
    assert (table["label"] == assign_classes(table["label_radiance"].to_numpy(),
                                             np.array(thresholds))).all()


def test_an_empty_class_stops_label_with_the_counts_and_what_to_change(
        make_tiny_config, tmp_path, stage_runner):
    path = make_tiny_config(tmp_path, labels={"method": "fixed", "n_classes": 3,
                                              "thresholds": [1000.0, 2000.0], "balance": True})
    config = load_config(path, env={})
    tiles = stage_runner(ingest, config)["tiles"]
    with pytest.raises(InputDataError) as info:
        stage_runner(label, config)
    assert str(info.value) == (
        f"{config.data.nightlights.path}: labels.method fixed with labels.n_classes=3 and "
        f"thresholds [1000, 2000] leaves class(es) [1, 2] without tiles (class "
        f"counts [{tiles}, 0, 0]), so the model could not learn them. Lower labels.n_classes, "
        "use labels.method: gmm or quantile, or choose other labels.thresholds.")
