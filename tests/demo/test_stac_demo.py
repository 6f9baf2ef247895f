"""The demo world published as a catalog: clouds really cover parts of each date, yet the
cloud-masked median composite, scaled as configs/demo_stac.yaml scales it, gives back the demo's
tiles byte for byte; the monthly night lights reduce to the demo's raster; the wrapper serves at
the config's ports and stops its servers when the command fails."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml

from pipeline.demo import WorldSpec, generate_world
from pipeline.demo.stac_demo import (
    NL_COLLECTION,
    S2_ASSETS,
    S2_COLLECTION,
    main,
    publish_world,
    s2_scenes,
    world_image,
)
from pipeline.demo.cog_server import CogServer
from pipeline.demo.stac_world import StacApi, free_port
from pipeline.tiles.area import area_tiles
from pipeline.tiles.reading import read_tile
from pipeline.tiles.stac import StacRequest, StacSource
from pipeline.tiles.stac_api import StacQuery
from pipeline.tiles.stac_raster import RasterRequest, acquire_raster

SPEC = WorldSpec(seed=0, n_tiles_x=3, n_tiles_y=2, tile_size_px=32, n_clusters=20)
TILE_M = SPEC.tile_size_px * SPEC.gsd_m


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_world(tmp_path_factory.mktemp("demo") / "world", SPEC, progress=False)


def test_every_pixel_is_clear_on_some_date_and_clouds_cover_each_date(world):
    image, spec = world_image(world)
    scenes = s2_scenes(image, spec)
    clear = np.stack([s.bands["SCL"] == 4 for s in scenes[:-1]])
    assert clear.any(axis=0).all()
    assert all(0.1 < 1 - c.mean() < 0.6 for c in clear)  # clouds and shadows over parts
    assert scenes[-1].cloud_cover == 100.0  # the date the search leaves out
    bright = scenes[0].bands["B04"][scenes[0].bands["SCL"] == 9]
    assert bright.size and (bright == 9000).all()


@pytest.mark.slow
def test_the_catalog_gives_back_the_demo_tiles_and_night_lights(world, tmp_path):
    with CogServer(tmp_path) as cogs:
        hrefs = publish_world(world, tmp_path, cogs.url)
        with StacApi(hrefs) as api:
            query = StacQuery(api.url, S2_COLLECTION, "2016-01-01/2016-12-31", S2_ASSETS,
                              max_cloud_cover=60, retries=1, retry_delay_s=0.05, timeout_s=10)
            origin = (SPEC.origin_x_m, SPEC.origin_y_m)
            inner = (origin[0] + 100, origin[1] - 2 * TILE_M + 100,
                     origin[0] + 3 * TILE_M - 100, origin[1] - 100)
            region = rasterio.warp.transform_bounds(SPEC.crs, "EPSG:4326", *inner)
            tiles = area_tiles([], 0.001, region, TILE_M, SPEC.crs, origin)
            source = StacSource(StacRequest(query, tuple(tiles), SPEC.gsd_m), tmp_path / "out")
            assert [i["id"] for i in source.items] == [
                "DEMO_S2_20160304", "DEMO_S2_20160513", "DEMO_S2_20160702", "DEMO_S2_20160821"]
            assert len(tiles) == 6
            for k, tile in enumerate(tiles):
                path, error = source.acquire(tile)
                assert error is None
                got, _ = read_tile(path, (1, 2, 3), SPEC.tile_size_px, (0.0, 2.55))
                with rasterio.open(world / "tiles" / f"tile_r{k // 3:03d}_c{k % 3:03d}.tif") as src:
                    want = src.read()
                    assert src.bounds == tuple(tile.bounds)
                np.testing.assert_array_equal(np.moveaxis(got, -1, 0), want)
            nl = StacQuery(api.url, NL_COLLECTION, "2016", ("radiance",), "none", None, 100.0,
                           retries=1, timeout_s=10)
            with rasterio.open(world / "nightlights.tif") as src:
                radiance, bbox = src.read(1), src.bounds
            record = acquire_raster(RasterRequest(nl, tuple(bbox)), tmp_path / "nl.tif")
            with rasterio.open(tmp_path / "nl.tif") as src:
                np.testing.assert_array_equal(src.read(1), radiance)
            assert record["time_steps"] == 3


def test_the_wrapper_serves_at_the_config_ports_and_stops_when_the_command_fails(world, tmp_path):
    files, api = free_port(), free_port()
    config = tmp_path / "demo_stac.yaml"
    config.write_text(yaml.safe_dump({"data": {
        "survey": {"path": f"http://127.0.0.1:{files}/survey.csv"},
        "tiles": {"stac": {"url": f"http://127.0.0.1:{api}"}}}}))
    probe = ("import sys, urllib.request as u; "
             f"u.urlopen('http://127.0.0.1:{api}/collections/{S2_COLLECTION}').read(); "
             f"u.urlopen('http://127.0.0.1:{files}/survey.csv').read(); sys.exit(3)")
    assert main([str(world), str(tmp_path / "pub"), str(config), "--",
                 sys.executable, "-c", probe]) == 3
    for port in (files, api):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more
