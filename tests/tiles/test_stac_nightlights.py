"""Night lights from a STAC collection against real servers: monthly items reduced in time equal a
numpy reference, a search finding nothing names the setting to loosen, a second acquisition is
served from the cache; survey tables by URL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from rasterio.windows import from_bounds

from stac_scenes import clear_gdal_http_cache

from pipeline.config.data import NightlightsConfig
from pipeline.demo.cog_server import CogServer
from pipeline.demo.stac_world import Scene, StacApi, publish
from pipeline.errors import InputDataError
from pipeline.survey.tables import read_table
from pipeline.tiles.stac_api import StacQuery
from pipeline.tiles.stac_raster import RasterRequest, acquire_raster, padded_bbox

RES = 1 / 240  # 15 arc-seconds, as VIIRS
ORIGIN = (34.8, -13.4)  # west, north
SHAPE = (48, 60)
NODATA = -999.0
MONTHS = 5


@dataclass
class LightsCatalog:
    api_url: str
    cogs: CogServer
    stack: np.ndarray  # (months, h, w) float32, NaN where an item has nodata
    transform: Affine


@pytest.fixture(scope="module")
def lights(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LightsCatalog]:
    """Five monthly night-light items (float32, nodata -999 in a corner of two of them)."""
    root = tmp_path_factory.mktemp("lights")
    rng = np.random.default_rng(3)
    transform = Affine(RES, 0, ORIGIN[0], 0, -RES, ORIGIN[1])
    stack = rng.gamma(0.6, 4.0, (MONTHS, *SHAPE)).astype(np.float32)
    stack[1, :10, :12] = np.nan
    stack[3, :6, :8] = np.nan
    scenes = [Scene(f"NL-2016-{m + 1:02d}", f"2016-{m + 1:02d}-15T00:00:00Z", 0.0, "EPSG:4326",
                    transform, {"radiance": np.nan_to_num(stack[m], nan=NODATA)},
                    {"radiance": {"nodata": NODATA}}) for m in range(MONTHS)]
    (root / "survey.csv").write_text("cluster_id,lat,lon,y\nc1,-13.5,34.9,1.5\nc2,-13.45,34.95,2\n")
    with CogServer(root) as cogs:
        hrefs = publish(scenes, root / "nl", f"{cogs.url}/nl", "nl-test")
        with StacApi(hrefs) as api:
            yield LightsCatalog(api.url, cogs, stack, transform)


def request(lights: LightsCatalog, reducer: str = "median", **query) -> RasterRequest:
    settings = {"url": lights.api_url, "collection": "nl-test", "datetime": "2016-01-01/2016-12-31",
                "assets": ("radiance",), "cloud_mask": "none", "mask_asset": None,
                "retries": 1, "retry_delay_s": 0.05, "timeout_s": 10,
                "settings": "data.nightlights.stac", "area": "the tiles of ingest", **query}
    bbox = (ORIGIN[0] + 0.012, ORIGIN[1] - 0.15, ORIGIN[0] + 0.2, ORIGIN[1] - 0.001)
    return RasterRequest(StacQuery(**settings), bbox, reducer)


@pytest.mark.parametrize("reducer, reference", [("median", np.nanmedian), ("mean", np.nanmean),
                                                ("max", np.nanmax)])
def test_reducers_equal_a_numpy_reference_over_the_monthly_items(lights, tmp_path, reducer,
                                                                 reference):
    record = acquire_raster(request(lights, reducer), tmp_path / "nightlights.tif")
    assert record["items"] == [f"NL-2016-{m:02d}" for m in range(1, MONTHS + 1)]
    assert record["time_steps"] == MONTHS and record["reducer"] == reducer
    with rasterio.open(tmp_path / "nightlights.tif") as src:
        got, bounds, tags = src.read(1), src.bounds, src.tags()
        assert src.crs.to_epsg() == 4326 and src.res == pytest.approx((RES, RES))
    window = from_bounds(*bounds, lights.transform).round_offsets().round_lengths()
    assert window.col_off == 2 and window.row_off == 0  # on the items' own pixel grid, cropped
    assert window.width < SHAPE[1] and window.height < SHAPE[0]
    rows, cols = window.toslices()
    expected = reference(lights.stack[:, rows, cols], axis=0)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert tags["year"] == "2016" and tags["REDUCER"] == reducer


def test_nodata_steps_are_left_out_of_the_reduction(lights, tmp_path):
    acquire_raster(request(lights, "max"), tmp_path / "nl.tif")
    with rasterio.open(tmp_path / "nl.tif") as src:
        corner = src.read(1)[0, 0]
    assert corner != NODATA and corner == np.nanmax(lights.stack[:, 0, 2])


def test_a_collection_without_items_in_the_dates_says_what_to_loosen(lights, tmp_path):
    with pytest.raises(InputDataError, match=r"no item of 'nl-test'.*in 2010-01-01/2010-12-31; "
                                             r"widen data\.nightlights\.stac\.datetime, or check "
                                             r"the area \(the tiles of ingest\)"):
        acquire_raster(request(lights, datetime="2010-01-01/2010-12-31"), tmp_path / "nl.tif")
    with pytest.raises(InputDataError, match="check data.nightlights.stac.collection"):
        acquire_raster(request(lights, collection="nope"), tmp_path / "nl.tif")


def test_a_second_acquisition_is_served_from_the_cache(lights, tmp_path):
    first = acquire_raster(request(lights), tmp_path / "a" / "nl.tif")
    reads = _cog_requests(lights.cogs)
    assert acquire_raster(request(lights), tmp_path / "a" / "nl.tif") == first
    again = acquire_raster(request(lights), tmp_path / "b" / "nl.tif", reuse=tmp_path / "a" / "nl.tif")
    assert again == first and _cog_requests(lights.cogs) == reads  # no COG read either time
    assert (tmp_path / "b" / "nl.tif").read_bytes() == (tmp_path / "a" / "nl.tif").read_bytes()
    clear_gdal_http_cache()  # else GDAL's own range cache may answer the reads below
    other = acquire_raster(request(lights, "mean"), tmp_path / "a" / "nl.tif")
    assert other["key"] != first["key"] and _cog_requests(lights.cogs) > reads


def test_padded_bbox_grows_by_the_margin_in_km():
    west, south, east, north = padded_bbox((35.0, -14.0, 35.5, -13.5), 11.132)
    assert (south, north) == pytest.approx((-14.1, -13.4))
    assert 35.0 - west == pytest.approx(0.1 / np.cos(np.radians(14.1)))


def test_nightlights_source_settings_are_checked():
    stac = {"url": "http://x", "collection": "c", "datetime": "2016", "asset": "a"}
    assert NightlightsConfig(source="stac", stac=stac).stac.reducer == "median"
    with pytest.raises(ValueError, match="data.nightlights.path: required"):
        NightlightsConfig()
    with pytest.raises(ValueError, match="data.nightlights.stac: required"):
        NightlightsConfig(source="stac")
    with pytest.raises(ValueError, match="leave it out"):
        NightlightsConfig(source="stac", stac=stac, path="x.tif")
    with pytest.raises(ValueError, match="token_env: the NAME"):
        NightlightsConfig(source="stac", stac={**stac, "token_env": "abc-123"})


def test_a_survey_table_is_read_by_url(lights, tmp_path):
    table = read_table(f"{lights.cogs.url}/survey.csv")
    assert table["cluster_id"].tolist() == ["c1", "c2"] and table["y"].tolist() == [1.5, 2.0]
    with pytest.raises(InputDataError, match="missing.csv: cannot read the survey table.*"
                                             "data.survey.path"):
        read_table(f"{lights.cogs.url}/missing.csv")


def _cog_requests(cogs: CogServer) -> int:
    return sum(n for path, n in cogs.log.requests.items() if path.endswith(".tif"))
