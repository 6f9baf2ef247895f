"""`poverty-pipeline init --stac URL --collection C` against rustac serve: the config it writes
reads the catalog and validates; bad catalogs and collections are exit 2 with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from affine import Affine
from stac_scenes import CRS
from pyproj import Transformer

from pipeline.cli.checks import check_inputs
from pipeline.cli.init import InitRequest, report, write_config
from pipeline.config.schema import load_config
from pipeline.errors import InputDataError
from pipeline.tiles.stac_collection import pick_assets

REPO = Path(__file__).resolve().parents[2]
POINTS = [(800_150, 9_783_850), (800_500, 9_783_500), (800_800, 9_783_200)]


@pytest.fixture
def inputs(tmp_path, tif_writer) -> Path:
    """A survey of 3 clusters over the test scenes (year 2020) and a night-light raster."""
    to_lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lonlat = [to_lonlat.transform(x, y) for x, y in POINTS]
    pd.DataFrame({"cluster_id": ["a", "b", "c"], "lon": [p[0] for p in lonlat],
                  "lat": [p[1] for p in lonlat], "year": [2020] * 3,
                  "consumption_pc_day": [1.0, 2.0, 3.5]}).to_csv(tmp_path / "survey.csv",
                                                                  index=False)
    tif_writer(tmp_path / "nl.tif", np.arange(100, dtype=np.float32).reshape(1, 10, 10),
               crs="EPSG:4326", transform=Affine(0.01, 0, 35.65, 0, -0.01, -1.9))
    return tmp_path


def request(folder: Path, url: str, **kw) -> InitRequest:
    args = {"out": folder / "cfg" / "from_stac.yaml", "tiles": None,
            "nightlights": folder / "nl.tif", "survey": folder / "survey.csv",
            "id": "cluster_id", "lat": "lat", "lon": "lon", "outcomes": ("consumption_pc_day",),
            "year": "year", "stac": url, "collection": "s2-test"}
    return InitRequest(**{**args, **kw})


def test_init_from_a_sentinel2_collection_writes_a_config_that_validates(stac_world, inputs):
    path, findings = write_config(request(inputs, stac_world.api_url))
    config = load_config(path, env={})
    tiles = config.data.tiles
    assert tiles.source == "stac" and tiles.path is None
    stac = tiles.stac
    assert (stac.url, stac.collection) == (stac_world.api_url, "s2-test")
    assert stac.datetime == "2020-01-01/2020-12-31"  # the survey's year column
    assert stac.assets == ("B04", "B03", "B02", "B08")
    assert (stac.cloud_mask, stac.mask_asset, stac.resolution_m) == ("sentinel2_scl", "SCL", 10.0)
    # eo:cloud_cover 10, 20, 35, 60: the first step keeping all 4 scenes is 80
    assert stac.max_cloud_cover == 80.0 and tiles.window_px == 100
    assert check_inputs(config)["tiles"] > 0  # what `poverty-pipeline validate` checks
    text = path.read_text()
    assert "# found: 4 item(s) of s2-test over the survey's extent" in text
    lines = report(findings).splitlines()
    assert lines[0] == (f"stac: {stac_world.api_url} collection s2-test: 4 item(s) over the "
                        "survey's extent in 2020-01-01/2020-12-31, median cloud cover 28%; "
                        "4 at or below max_cloud_cover 80")
    assert lines[1] == ("stac assets: B04, B03, B02, B08 (RGB+NIR), cloud mask sentinel2_scl "
                        "from SCL, 10 m; offered: B02, B03, B04, B08, SCL")


def test_init_from_a_landsat_collection_picks_its_bands_and_qa(stac_world, inputs):
    path, findings = write_config(request(inputs, stac_world.api_url, collection="landsat-test",
                                          datetime="2020-05-01/2020-07-31"))
    stac = load_config(path, env={}).data.tiles.stac
    assert stac.assets == ("red", "green", "blue", "nir08")
    assert (stac.cloud_mask, stac.mask_asset, stac.resolution_m) == (
        "landsat_qa_pixel", "qa_pixel", 30.0)
    assert stac.datetime == "2020-05-01/2020-07-31" and findings.tiles.n_items == 3
    assert stac.max_cloud_cover == 20.0  # every scene states 15 %


def test_asset_names_of_the_real_catalogs_are_recognised():
    earth_search_s2 = ["aot", "blue", "green", "nir", "nir08", "red", "scl", "visual"]
    assert pick_assets(earth_search_s2) == (("red", "green", "blue", "nir"), "sentinel2_scl",
                                            "scl", 10.0)
    landsat = ["blue", "coastal", "green", "nir08", "qa_pixel", "red", "swir16"]
    assert pick_assets(landsat) == (("red", "green", "blue", "nir08"), "landsat_qa_pixel",
                                    "qa_pixel", 30.0)
    assert pick_assets(["B02", "B03", "B04"]) == (("B04", "B03", "B02"), "none", "SCL", 10.0)
    with pytest.raises(InputDataError, match="no red/green/blue assets among"):
        pick_assets(["rad", "qa"])


def test_init_with_no_item_in_the_survey_s_dates_says_what_to_widen(stac_world, inputs):
    with pytest.raises(InputDataError, match=r"no item of 's2-test' .* in 2015-01-01/2015-12-31; "
                                             r"widen --datetime"):
        write_config(request(inputs, stac_world.api_url, datetime="2015-01-01/2015-12-31"))
    assert not (inputs / "cfg" / "from_stac.yaml").exists()


@pytest.mark.slow
def test_cli_init_bad_catalog_or_collection_exits_2_with_one_line(stac_world, inputs):
    base = [sys.executable, "-m", "pipeline", "init", str(inputs / "c.yaml"), "--nightlights",
            str(inputs / "nl.tif"), "--survey", str(inputs / "survey.csv"), "--id", "cluster_id",
            "--lat", "lat", "--lon", "lon", "--outcome", "consumption_pc_day", "--year", "year"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = {}
    for name, stac in {"collection": [stac_world.api_url, "--collection", "nope"],
                       "url": [stac_world.cogs.url + "/not-an-api", "--collection", "s2-test"]
                       }.items():
        runs[name] = subprocess.run(base + ["--stac", *stac], capture_output=True, text=True,
                                    timeout=120, env=env)
    for done in runs.values():
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert "collection 'nope' not found; it has 2 collection(s): landsat-test, s2-test" \
        in runs["collection"].stderr
    assert "cannot open it" in runs["url"].stderr and "data.tiles.stac.url" in runs["url"].stderr
    assert not (inputs / "c.yaml").exists()
