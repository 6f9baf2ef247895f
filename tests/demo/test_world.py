"""Tests of the demo world generator, on tiny worlds written into tmp_path."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from scipy.stats import spearmanr

import pipeline.demo.world as world_module
from pipeline.demo import WorldSpec, generate_world
from pipeline.demo.buildings import roof_probabilities
from pipeline.demo.spec import WorldGrid
from pipeline.errors import ConfigError, InputDataError

# Not square, so a swapped row/column shows.
TINY = WorldSpec(seed=0, n_tiles_x=8, n_tiles_y=6, tile_size_px=32, n_clusters=60)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_world(tmp_path_factory.mktemp("demo") / "world", TINY, progress=False)


@pytest.fixture(scope="module")
def survey(world: Path) -> pd.DataFrame:
    return pd.read_csv(world / "survey.csv")


def _nightlights_at(world: Path, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    with rasterio.open(world / "nightlights.tif") as src:
        return np.array([v[0] for v in src.sample(zip(lon, lat))])


def test_writes_every_file_and_the_right_number_of_tiles(world: Path) -> None:
    tiles = sorted(p.name for p in (world / "tiles").iterdir())
    assert len(tiles) == 48
    assert tiles[0] == "tile_r000_c000.tif" and tiles[-1] == "tile_r005_c007.tif"
    for name in ("nightlights.tif", "survey.csv", "world.json", "truth.npz"):
        assert (world / name).is_file(), name


def test_tiles_are_north_up_rgb_in_the_spec_crs(world: Path) -> None:
    ts, gsd = TINY.tile_size_px, TINY.gsd_m
    for row in range(TINY.n_tiles_y):
        for col in range(TINY.n_tiles_x):
            with rasterio.open(world / "tiles" / f"tile_r{row:03d}_c{col:03d}.tif") as src:
                assert src.crs.to_epsg() == 32736
                expected = from_origin(700000.0 + col * ts * gsd, 8510000.0 - row * ts * gsd, gsd, gsd)
                assert src.transform.almost_equals(expected)
                assert (src.count, src.height, src.width) == (3, ts, ts)
                assert src.dtypes == ("uint8",) * 3
                assert src.descriptions == ("red", "green", "blue")
                assert src.compression.name == "deflate"


def test_tiles_are_not_blank(world: Path) -> None:
    with rasterio.open(world / "tiles" / "tile_r002_c003.tif") as src:
        pixels = src.read()
    assert pixels.std() > 5.0
    assert 30 < pixels.mean() < 220


def test_nightlights_are_geographic_and_cover_the_tiles_with_a_margin(world: Path) -> None:
    grid = WorldGrid.from_spec(TINY)
    west, south, east, north = Transformer.from_crs(TINY.crs, "EPSG:4326", always_xy=True).transform_bounds(
        *grid.bounds, densify_pts=21
    )
    margin_deg = 1500.0 / 111_320.0  # at least 1.5 km everywhere (asked for ~2 km)
    with rasterio.open(world / "nightlights.tif") as src:
        assert src.crs.to_epsg() == 4326
        assert src.res == pytest.approx((1 / 240, 1 / 240))
        assert src.count == 1 and src.dtypes == ("float32",) and src.nodata is None
        b = src.bounds
    assert b.left < west - margin_deg and b.right > east + margin_deg
    assert b.bottom < south - margin_deg and b.top > north + margin_deg
    assert b.right - b.left < (east - west) + 4 * margin_deg  # not absurdly large either


def test_nightlights_are_mostly_dark_with_a_noise_floor_and_a_cap(world: Path) -> None:
    with rasterio.open(world / "nightlights.tif") as src:
        radiance = src.read(1)
    assert np.mean(radiance < 0.5) > 0.5
    assert radiance.min() > -0.3 and (radiance < 0).any()  # VIIRS-like noise floor
    assert 2.0 < radiance.max() <= 60.5


def test_survey_columns_types_and_missing_gps_rows(survey: pd.DataFrame) -> None:
    assert list(survey.columns) == [
        "cluster_id", "lat", "lon", "country", "year", "urban",
        "n_households", "consumption_pc_day", "asset_index",
    ]
    assert len(survey) == TINY.n_clusters + 2
    assert survey["cluster_id"].is_unique and survey["cluster_id"].str.fullmatch(r"DM-\d{4}").all()
    for column in ("lat", "lon", "consumption_pc_day", "asset_index"):
        assert survey[column].dtype == np.float64, column
    for column in ("year", "urban", "n_households"):
        assert survey[column].dtype == np.int64, column
    assert ((survey["lat"] == 0.0) & (survey["lon"] == 0.0)).sum() == 2
    assert ((survey["lat"] == 0.0) | (survey["lon"] == 0.0)).sum() == 2
    assert (survey["country"] == "Demoland").all() and (survey["year"] == 2016).all()
    assert set(survey["urban"]) == {0, 1} and 0.15 <= survey["urban"].mean() <= 0.35
    assert survey["n_households"].between(15, 30).all()


def test_outcomes_have_realistic_ranges(survey: pd.DataFrame) -> None:
    consumption = survey["consumption_pc_day"]
    assert (consumption > 0).all()
    assert 1.2 <= consumption.median() <= 3.5
    assert consumption.min() < 1.0 and consumption.max() > 5.0
    assert abs(survey["asset_index"].mean()) < 0.05 and 0.9 < survey["asset_index"].std() < 1.1
    assert spearmanr(consumption, survey["asset_index"])[0] > 0.6


def test_published_points_lie_in_the_world_and_respect_displacement_caps(
    world: Path, survey: pd.DataFrame
) -> None:
    grid = WorldGrid.from_spec(TINY)
    truth = np.load(world / "truth.npz")
    assert list(truth["cluster_id"]) == list(survey["cluster_id"])
    ok = survey["lat"].to_numpy() != 0.0
    x, y = Transformer.from_crs("EPSG:4326", TINY.crs, always_xy=True).transform(
        survey["lon"].to_numpy()[ok], survey["lat"].to_numpy()[ok]
    )
    minx, miny, maxx, maxy = grid.bounds
    assert ((x > minx - 0.5) & (x < maxx + 0.5) & (y > miny - 0.5) & (y < maxy + 0.5)).all()
    moved = np.hypot(x - truth["true_x_m"][ok], y - truth["true_y_m"][ok])
    np.testing.assert_allclose(moved, truth["displacement_m"][ok], atol=0.5)
    caps = truth["displacement_cap_m"][ok]
    urban = survey["urban"].to_numpy()[ok] == 1
    assert (moved <= caps + 0.5).all()
    assert np.allclose(caps[urban], 2000.0 * grid.scale)
    assert np.isin(caps[~urban], [5000.0 * grid.scale, 10000.0 * grid.scale]).all()
    assert moved.mean() > 0.25 * caps.mean()  # actually displaced, not left in place


def test_consumption_rises_with_nightlights_but_the_poor_half_is_dark(
    world: Path, survey: pd.DataFrame
) -> None:
    located = survey[survey["lat"] != 0.0]
    radiance = _nightlights_at(world, located["lon"].to_numpy(), located["lat"].to_numpy())
    consumption = located["consumption_pc_day"].to_numpy()
    assert spearmanr(consumption, radiance)[0] > 0.3
    poor = consumption < np.median(consumption)
    assert np.mean(radiance[poor] < 0.5) > 0.5
    assert np.mean(radiance[poor] < 0.5) > np.mean(radiance[~poor] < 0.5)


def test_tiles_look_richer_where_the_world_is_richer(world: Path) -> None:
    wealth = np.load(world / "truth.npz")["wealth_tile"]
    assert wealth.shape == (TINY.n_tiles_y, TINY.n_tiles_x)
    roofs, bush = np.zeros_like(wealth), np.zeros_like(wealth)
    for row in range(TINY.n_tiles_y):
        for col in range(TINY.n_tiles_x):
            with rasterio.open(world / "tiles" / f"tile_r{row:03d}_c{col:03d}.tif") as src:
                rgb = src.read().astype(float)
            bright = rgb.min(axis=0) > 165  # iron and concrete roofs (and clouds)
            red = (rgb[0] > 150) & (rgb[0] - rgb[2] > 90)  # clay tiles
            roofs[row, col] = np.mean(bright | red)
            bush[row, col] = np.mean(rgb[1] - rgb[0] > 10)  # woodland is greener than red
    # Tiny tiles hold few buildings, so the roof signal is weak here (~0.5 on 64 px tiles).
    assert spearmanr(wealth.ravel(), roofs.ravel())[0] > 0.0
    assert spearmanr(wealth.ravel(), bush.ravel())[0] < -0.3


def test_roof_iron_share_rises_steadily_across_the_poor_range() -> None:
    probs = roof_probabilities(np.linspace(-2.5, 0.5, 13))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert np.all(np.diff(probs[:, 1]) > 0.01)  # iron
    assert np.all(np.diff(probs[:, 0]) < 0)  # thatch
    assert probs[0, 0] > 0.8 and probs[-1, 1] > 0.6


def test_same_seed_gives_identical_bytes_and_another_seed_differs(world: Path, tmp_path: Path) -> None:
    again = generate_world(tmp_path / "again", TINY, progress=False)
    other = generate_world(tmp_path / "other", replace(TINY, seed=1), progress=False)
    tile = Path("tiles") / "tile_r003_c004.tif"
    for name in ("survey.csv", "nightlights.tif", "truth.npz", "world.json", tile):
        assert (again / name).read_bytes() == (world / name).read_bytes(), name
    for name in ("survey.csv", "nightlights.tif", tile):
        assert (other / name).read_bytes() != (world / name).read_bytes(), name


def test_second_call_with_the_same_spec_rewrites_nothing(tmp_path: Path) -> None:
    out = generate_world(tmp_path / "w", TINY, progress=False)
    names = ("world.json", "survey.csv", "nightlights.tif", "tiles/tile_r000_c000.tif")
    files = [out / name for name in names]
    before = [p.stat().st_mtime_ns for p in files]
    assert generate_world(out, TINY, progress=False) == out
    assert [p.stat().st_mtime_ns for p in files] == before


def test_another_spec_rewrites_and_removes_stale_tiles(tmp_path: Path) -> None:
    out = generate_world(tmp_path / "w", TINY, progress=False)
    smaller = replace(TINY, n_tiles_x=4, n_tiles_y=3, n_clusters=20)
    generate_world(out, smaller, progress=False)
    assert len(list((out / "tiles").glob("*.tif"))) == 12
    assert json.loads((out / "world.json").read_text())["spec"]["n_tiles_x"] == 4
    assert len(pd.read_csv(out / "survey.csv")) == 22


def test_a_crash_midway_leaves_no_world_json_and_the_next_call_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    out = tmp_path / "w"
    monkeypatch.setattr(world_module, "write_nightlights", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_world(out, TINY, progress=False)
    assert (out / "tiles").is_dir() and not (out / "world.json").exists()
    monkeypatch.undo()
    generate_world(out, TINY, progress=False)
    assert world_module.is_current(out, TINY)
    assert (out / "nightlights.tif").is_file()


def test_world_json_records_the_spec(world: Path) -> None:
    record = json.loads((world / "world.json").read_text())
    assert record["spec"]["seed"] == 0 and record["spec"]["n_tiles_y"] == 6
    assert record["spec"]["crs"] == "EPSG:32736"
    assert "Demoland" in record["description"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"n_tiles_x": 0}, "n_tiles_x"),
        ({"tile_size_px": 4}, "tile_size_px"),
        ({"gsd_m": -1.0}, "gsd_m"),
        ({"seed": -3}, "seed"),
        ({"crs": "EPSG:4326"}, "projected CRS in metres"),
        ({"crs": "not a crs"}, "crs"),
    ],
)
def test_bad_spec_values_are_config_errors_naming_the_field(change: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        WorldSpec(**change)


def test_out_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "world"
    path.write_text("not a folder")
    with pytest.raises(InputDataError, match="not a folder"):
        generate_world(path, TINY, progress=False)


def test_world_lies_near_malawi() -> None:
    grid = WorldGrid.from_spec(WorldSpec())
    lon, lat = Transformer.from_crs("EPSG:32736", "EPSG:4326", always_xy=True).transform(
        *grid.bounds[:2]
    )
    assert 33.0 < lon < 36.0 and -15.0 < lat < -13.0
    assert math.isclose(grid.width_px * 15.0, 38400.0)
