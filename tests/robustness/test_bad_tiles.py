"""Bad tiles and nightlights: each broken file is skipped with its reason, never a crash.

One folder holds a good tile and one of every kind of broken tile; ingest's per-shard reader
must keep the good one and list each other one in the rejections with a reason that names
the problem. A folder of only broken tiles stops the run (exit 2, one line, no traceback).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine, from_origin
from robust_cli import assert_exit_2, cli, edit
from shapely.geometry import box

from pipeline.config.schema import TilesConfig, load_config
from pipeline.errors import InputDataError
from pipeline.geo.nightlights import sample_footprints
from pipeline.tiles.reading import find_tiles
from pipeline.engine.runner import run_pipeline
from pipeline.stages.ingest import read_spec
from pipeline.tiles.catalog import ingest_shard
from pipeline.tiles.folder import FolderSource
from pipeline.tiles.reading import TileShard
from pipeline.stages import PIPELINE

RGB = np.random.default_rng(0).integers(1, 255, size=(3, 16, 16)).astype(np.uint8)

# name -> (how to make it, a fragment the rejection reason must contain)
BAD_TILES = {
    "truncated": ("truncated", "truncated GeoTIFF"),
    "zero_byte": ("zero", "not a readable GeoTIFF"),
    "no_crs": ("no_crs", "has no CRS"),
    "no_geotransform": ("no_transform", "has no geotransform"),
    "all_nodata": ("nodata", "valid share 0.00"),
    "two_bands": ("bands", "has 2 band(s)"),
    "float32": ("dtype", "is float32; set data.tiles.scale"),
    "text": ("text", "not a readable GeoTIFF"),
    "loop": ("loop", "not a readable GeoTIFF"),
    "local_crs": ("local_crs", "cannot be placed on the Earth"),
    "metres_as_degrees": ("metres_as_degrees", "is not within lon -180..180, lat -90..90"),
    "antimeridian": ("antimeridian", "crosses the antimeridian"),
}


def make_bad(kind: str, path: Path, tif_writer) -> None:
    if kind == "truncated":
        tif_writer(path, RGB)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif kind == "zero":
        path.write_bytes(b"")
    elif kind == "no_crs":
        tif_writer(path, RGB, crs=None)
    elif kind == "no_transform":
        with pytest.warns(Warning):
            tif_writer(path, RGB, transform=Affine.identity())
    elif kind == "nodata":
        tif_writer(path, np.zeros_like(RGB), nodata=0)
    elif kind == "bands":
        tif_writer(path, RGB[:2])
    elif kind == "dtype":
        tif_writer(path, RGB.astype(np.float32))
    elif kind == "text":
        path.write_text("this is not a raster\n")
    elif kind == "loop":
        os.symlink(path.name, path)  # points at itself
    elif kind == "local_crs":
        tif_writer(path, RGB, crs=CRS.from_wkt('LOCAL_CS["site",UNIT["metre",1]]'))
    elif kind == "metres_as_degrees":
        tif_writer(path, RGB, crs="EPSG:4326")  # UTM metres labelled as degrees
    elif kind == "antimeridian":  # 1 km at Fiji (UTM 60S) across 180 deg, at x = 819,452 m
        tif_writer(path, RGB, crs="EPSG:32760", transform=from_origin(819000, 8118500, 62.5, 62.5))


@pytest.fixture
def bad_folder(tmp_path: Path, tif_writer) -> Path:
    folder = tmp_path / "tiles"
    folder.mkdir()
    tif_writer(folder / "good.tif", RGB)
    for name, (kind, _) in BAD_TILES.items():
        make_bad(kind, folder / f"{name}.tif", tif_writer)
    os.symlink(".", folder / "dirloop")  # a folder loop: must not recurse forever
    return folder


def settings(folder: Path) -> TilesConfig:
    return TilesConfig(path=folder, tile_size_px=16)


def test_each_bad_tile_is_rejected_with_its_reason(bad_folder: Path, tmp_path: Path):
    paths = find_tiles(bad_folder)
    assert len(paths) == len(BAD_TILES) + 1
    cache = tmp_path / "cache"
    cache.mkdir()
    cfg = settings(bad_folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows, rejected = ingest_shard(FolderSource(bad_folder), TileShard(0, tuple(paths)),
                                      read_spec(cfg, None), cfg.min_valid_share, cache)
    said = [f"{w.category.__name__}: {w.message}" for w in caught  # what a user would see
            if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    assert said == []  # the reasons say it; no raw warning with a source line
    assert rows["tile_id"].tolist() == ["good"]
    assert np.load(cache / "shard_00000.npy").shape == (1, 16, 16, 3)
    reasons = dict(zip(rejected["id"], rejected["reason"]))
    assert sorted(reasons) == sorted(BAD_TILES)
    for name, (_, fragment) in BAD_TILES.items():
        assert fragment in reasons[name], (name, reasons[name])
        assert name in reasons[name] or fragment == "valid share 0.00"


@pytest.mark.slow
def test_folder_of_only_bad_tiles_stops_with_exit_2(bad_folder, make_tiny_config, tmp_path):
    (bad_folder / "good.tif").unlink()
    path = edit(make_tiny_config(tmp_path),
                lambda d: d["data"]["tiles"].update(path=str(bad_folder)))
    result = cli("run", path, "--until", "ingest")
    assert_exit_2(result, str(bad_folder), "none of the tiles is usable", "rejected.csv")
    rejected = (tmp_path / "run" / ".tmp-ingest" / "rejected.csv").read_text()
    assert rejected.count("\n") == len(BAD_TILES) + 1  # header + one line per bad tile


NL_TRANSFORM = from_origin(30.0, -10.0, 0.01, 0.01)  # 100 x 100 px of 0.01 deg from (30, -10)
INSIDE = box(30.2, -10.4, 30.3, -10.3)
OUTSIDE = box(50.0, 10.0, 50.1, 10.1)


def test_tiles_outside_the_nightlight_raster_get_nan(tmp_path, tif_writer):
    values = np.full((1, 100, 100), 5.0, dtype=np.float32)
    path = tif_writer(tmp_path / "nl.tif", values, crs="EPSG:4326", transform=NL_TRANSFORM)
    stats = sample_footprints([INSIDE, OUTSIDE], path)
    np.testing.assert_allclose(stats[0], [5.0, 5.0], rtol=1e-12)  # coverage-weighted
    assert np.isnan(stats[1]).all()


def test_nightlights_with_wrong_crs_metadata_miss_every_tile(tmp_path, tif_writer):
    """Degrees labelled as UTM metres: the raster lands near the equator off Africa's west
    coast, so no tile falls on it, and label stops with a message naming the file."""
    values = np.full((1, 100, 100), 5.0, dtype=np.float32)
    path = tif_writer(tmp_path / "nl.tif", values, crs="EPSG:32736", transform=NL_TRANSFORM)
    assert np.isnan(sample_footprints([INSIDE], path)).all()


def test_nightlights_without_crs_are_refused(tmp_path, tif_writer):
    values = np.full((1, 100, 100), 5.0, dtype=np.float32)
    path = tif_writer(tmp_path / "nl.tif", values, crs=None, transform=NL_TRANSFORM)
    with pytest.raises(InputDataError, match="nl.tif: the nightlight raster has no CRS"):
        sample_footprints([INSIDE], path)


@pytest.mark.parametrize("fill", [0.0, -3.0])
def test_all_zero_and_negative_nightlights_sample_as_is(tmp_path, tif_writer, fill):
    values = np.full((1, 100, 100), fill, dtype=np.float32)
    path = tif_writer(tmp_path / "nl.tif", values, crs="EPSG:4326", transform=NL_TRANSFORM)
    np.testing.assert_allclose(sample_footprints([INSIDE], path)[0], [fill, fill], rtol=1e-12)


def nightlights_like(world: Path, out: Path, change) -> Path:
    """A copy of the tiny world's nightlight raster with its pixels or profile changed."""
    with rasterio.open(world / "nightlights.tif") as src:
        profile, data = src.profile, src.read()
    data, profile = change(data, dict(profile))
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data)
    return out


def run_label(make_tiny_config, folder: Path, nightlights: Path):
    path = edit(make_tiny_config(folder),
                lambda d: d["data"]["nightlights"].update(path=str(nightlights)))
    return run_pipeline(load_config(path, env={}), PIPELINE, until_stage="label", quiet=True, progress=False)


@pytest.mark.parametrize("fill", [0.0, -2.0])
def test_constant_nightlights_stop_label(tiny_world, make_tiny_config, tmp_path, fill):
    nl = nightlights_like(tiny_world, tmp_path / "flat.tif",
                          lambda data, profile: (np.full_like(data, fill), profile))
    with pytest.raises(InputDataError, match=r"flat.tif: the tiles see only 1 distinct radiance "
                                             r"value.*labels.n_classes=3"):
        run_label(make_tiny_config, tmp_path, nl)


@pytest.mark.slow
def test_negative_noise_in_nightlights_is_clipped(tiny_world, make_tiny_config, tmp_path):
    noise = np.random.default_rng(1).normal(0, 0.5, size=(1, 1, 1))

    def negative(data, profile):
        return (data - 0.5 + noise).astype(data.dtype), profile

    run_label(make_tiny_config, tmp_path, nightlights_like(tiny_world, tmp_path / "neg.tif",
                                                           negative))
    labels = pd.read_parquet(tmp_path / "run" / "label" / "labels.parquet")
    assert (labels["radiance_mean"] < 0).any()
    assert labels["label"].min() == 0 and labels["label"].max() == 2


@pytest.mark.slow
def test_nightlights_with_wrong_crs_stop_the_run(tiny_world, make_tiny_config, tmp_path):
    def relabel(data, profile):
        return data, {**profile, "crs": "EPSG:32736"}  # degrees read as UTM metres

    nl = nightlights_like(tiny_world, tmp_path / "wrongcrs.tif", relabel)
    path = edit(make_tiny_config(tmp_path), lambda d: d["data"]["nightlights"].update(path=str(nl)))
    assert_exit_2(cli("run", path, "--until", "label"), "wrongcrs.tif: only 0 of 100 tiles lie on "
                  "the nightlight raster; check that it covers the tiles")
