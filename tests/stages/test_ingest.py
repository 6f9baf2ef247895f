"""The ingest stage on folders (mixed CRSs, uint16 multispectral), mosaics, and bad inputs."""

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

from pipeline.config.schema import parse_config
from pipeline.errors import DataVerificationError, InputDataError, MissingArtifactError
from pipeline.tiles.scaling import to_uint8
from pipeline.stages import ingest


def make_config(tmp_path: Path, tiles: dict, survey: dict | None = None, **data) -> object:
    survey_path = tmp_path / "survey.csv"
    if not survey_path.exists():
        pd.DataFrame({"cluster_id": ["c1", "c2", "c3", "c4", "c5", "c6", "c7"],
                      "lat": [-13.5805, 0.0, -13.58, 10.0, -13.581, -13.582, -13.583],
                      "lon": [34.8411, 0.0, 34.842, 30.0, 34.841, 34.842, 34.843],
                      "consumption": [2.0, 1.0, -1.0, 3.0, 1.0, 2.0, 3.0],
                      "year": 2018}).to_csv(survey_path, index=False)
    return parse_config({
        "name": "t", "run_dir": str(tmp_path / "run"),
        "data": {"tiles": tiles, "nightlights": {"path": "nl.tif"},
                 "survey": {"path": str(survey_path), "outcomes": ["consumption"], "year": "year",
                            **(survey or {})}, **data},
        "regression": {"targets": [{"column": "consumption", "log": True}], "folds": 2},
    }, base_dir=tmp_path)


def multispectral(seed: int) -> np.ndarray:
    """4 bands uint16 (like a Sentinel-2 B2, B3, B4, B8 stack), 16 x 16 px."""
    rng = np.random.default_rng(seed)
    return (rng.integers(200, 3000, size=(4, 16, 16)) + np.arange(4)[:, None, None] * 500).astype(np.uint16)


def test_mixed_crs_uint16_band_selection_and_percentile_stretch(tmp_path, tif_writer, stage_runner):
    folder = tmp_path / "tiles"
    utm = tif_writer(folder / "utm" / "s2_2019_a.tif", multispectral(0))
    lon, lat = Transformer.from_crs(32736, 4326, always_xy=True).transform(700160, 8499840)
    geo = tif_writer(folder / "geo" / "s2_2021_b.tif", multispectral(1), crs="EPSG:4326",
                     transform=from_origin(lon, lat, 0.0001, 0.0001))
    tif_writer(folder / "thin.tif", multispectral(2)[:2])  # 2 bands: rejected
    config = make_config(tmp_path, {"path": "tiles", "bands": [3, 2, 1], "scale": "percentile",
                                    "stretch_percentiles": [0, 100], "tile_size_px": 16,
                                    "year_pattern": r"_(\d{4})_"},
                         survey={"reach_km": 50})
    counts = stage_runner(ingest, config)
    out = config.run_dir / "ingest"
    catalog = gpd.read_parquet(out / "tiles.parquet")
    assert catalog["tile_id"].tolist() == ["geo/s2_2021_b", "utm/s2_2019_a"]
    assert catalog["crs"].tolist() == ["EPSG:4326", "EPSG:32736"]
    assert catalog["year"].tolist() == [2021, 2019]
    assert catalog.crs.to_epsg() == 4326
    assert catalog["lon"].iloc[0] == pytest.approx(lon + 0.0008)
    data = {p: multispectral(s)[[2, 1, 0]] for p, s in ((utm, 0), (geo, 1))}
    scaling = json.loads((out / "scaling.json").read_text())
    assert scaling["method"] == "percentile" and scaling["bands"] == [3, 2, 1]
    both = np.concatenate([d.reshape(3, -1) for d in data.values()], axis=1)
    assert scaling["low"] == both.min(axis=1).tolist() and scaling["high"] == both.max(axis=1).tolist()
    ranges = np.column_stack([scaling["low"], scaling["high"]])
    cache = np.load(out / "cache" / "shard_00000.npy")
    np.testing.assert_array_equal(cache[1], np.moveaxis(to_uint8(data[utm], ranges), 0, -1))
    np.testing.assert_array_equal(cache[0], np.moveaxis(to_uint8(data[geo], ranges), 0, -1))
    rejected = pd.read_csv(out / "rejected.csv")
    reasons = dict(zip(rejected["id"], rejected["reason"]))
    assert reasons["thin"].endswith("thin.tif has 2 band(s); data.tiles.bands asks for [3, 2, 1].")
    assert "missing-GPS" in reasons["c2"]
    assert reasons["c3"].startswith("consumption <= 0 cannot be logged")
    assert reasons["c4"].startswith("no tile within data.survey.reach_km=50.0 km")
    assert counts == {"tiles": 2, "tiles_rejected": 1, "tiles_low_valid_share": 0, "clusters": 4,
                      "clusters_rejected": 3, "households_rejected": 0, "tile_source": "folder"}


def test_mosaic_source_with_a_date_tag(tmp_path, tif_writer, stage_runner):
    rows, cols = np.mgrid[0:40, 0:72]
    data = np.stack([cols, rows, cols + rows]).astype(np.uint8)
    tif_writer(tmp_path / "composite.tif", data, tags={"ACQUISITION_DATE": "2017-05-02"})
    config = make_config(tmp_path, {"path": "composite.tif", "tile_size_px": 16, "window_px": 24,
                                    "overlap_px": 4}, shard_size=5)
    counts = stage_runner(ingest, config)
    catalog = gpd.read_parquet(config.run_dir / "ingest" / "tiles.parquet")
    assert counts["tile_source"] == "mosaic" and counts["tiles"] == 4 * 2  # cols 0,20,40,48
    assert catalog["col_off"].tolist()[:4] == [0, 20, 40, 48]
    assert set(catalog["date"]) == {"2017-05-02"} and set(catalog["year"]) == {2017}
    assert catalog["width_px"].eq(24).all() and catalog["gsd_m"].eq(10.0).all()
    assert sorted(p.name for p in (config.run_dir / "ingest" / "cache").iterdir()) == [
        "shard_00000.npy", "shard_00001.npy"]
    first = np.load(config.run_dir / "ingest" / "cache" / "shard_00000.npy")
    assert first.shape == (5, 16, 16, 3)



def test_an_unreadable_mosaic_window_is_rejected_and_the_others_kept(tmp_path, stage_runner):
    path = tmp_path / "composite.tif"
    profile = {"driver": "GTiff", "width": 72, "height": 48, "count": 3, "dtype": "uint8",
               "crs": "EPSG:32736", "transform": from_origin(700000, 8500000, 10, 10),
               "tiled": True, "blockxsize": 16, "blockysize": 16, "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dst:  # noise: each block keeps its own bytes
        dst.write(np.random.default_rng(0).integers(0, 255, (3, 48, 72), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-200])  # cuts into the last block, bottom right
    config = make_config(tmp_path, {"path": "composite.tif", "tile_size_px": 16})
    counts = stage_runner(ingest, config)
    assert counts["tiles"] == 3 * 5 - 1 and counts["tiles_rejected"] == 1
    assert counts["tiles_low_valid_share"] == 0
    rejected = pd.read_csv(config.run_dir / "ingest" / "rejected.csv").iloc[0]
    assert rejected["source"] == str(path) and rejected["id"] == "composite/r000032_c000056"
    assert rejected["reason"].startswith(
        f"window col_off=56 row_off=32 (16 x 16 px) of {path}: not a readable GeoTIFF (")

def test_single_band_raster_is_refused_with_its_band_count(tmp_path, shared_data, stage_runner):
    path = shared_data / "imagery" / "landsat8_b2_60m_singleband.tif"
    config = make_config(tmp_path, {"path": str(path), "scale": [0, 20000]})
    with pytest.raises(InputDataError, match=r"landsat8_b2_60m_singleband.tif has 1 band\(s\); "
                                             r"data.tiles.bands asks for \[1, 2, 3\]"):
        stage_runner(ingest, config)


def test_uint16_without_scale_is_rejected_per_tile_then_fails(tmp_path, tif_writer, stage_runner):
    tif_writer(tmp_path / "tiles" / "a.tif", multispectral(0))
    config = make_config(tmp_path, {"path": "tiles", "tile_size_px": 16})
    with pytest.raises(InputDataError, match="none of the tiles is usable"):
        stage_runner(ingest, config)
    rejected = pd.read_csv(config.run_dir / ".tmp-ingest" / "rejected.csv")
    assert "is uint16; set data.tiles.scale" in rejected["reason"].iloc[0]


def test_a_manifest_that_fails_stops_ingest_first(tmp_path, tif_writer, stage_runner):
    tif_writer(tmp_path / "tiles" / "a.tif", np.ones((3, 16, 16), np.uint8))
    manifest = tmp_path / "imagery.yaml"
    manifest.write_text(
        "name: imagery\ndescription: test\nsource: here\nhow_to_get: made\nlicence: CC0\n"
        "redistribute: true\nfiles:\n  - path: tiles/a.tif\n    kind: raster\n"
        f"    sha256: '{'0' * 64}'\n")
    config = make_config(tmp_path, {"path": "tiles", "tile_size_px": 16},
                         manifests=[str(manifest)])
    with pytest.raises(DataVerificationError, match="tiles/a.tif: sha256 does not match the manifest"):
        stage_runner(ingest, config)
    assert not (config.run_dir / ".tmp-ingest" / "cache").exists()


def test_validate_counts_the_windows_of_a_mosaic(tmp_path, tif_writer):
    from pipeline.cli.checks import check_inputs

    tif_writer(tmp_path / "composite.tif", np.ones((3, 40, 72), np.uint8))
    tif_writer(tmp_path / "nl.tif", np.ones((1, 4, 4), np.float32), crs="EPSG:4326")
    config = make_config(tmp_path, {"path": "composite.tif", "tile_size_px": 16, "window_px": 24,
                                    "overlap_px": 4})
    assert check_inputs(config)["tiles"] == 8
    missing = make_config(tmp_path, {"path": "composite.tif"}, manifests=["gone.yaml"])
    with pytest.raises(MissingArtifactError, match=r"gone.yaml: file not found \(data.manifests\[0\]\)"):
        check_inputs(missing)
