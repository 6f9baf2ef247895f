"""The stac tile source against real servers: rustac serve + a COG server with range requests."""

from __future__ import annotations

import json
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from stac_scenes import (
    CRS, LS_ASSETS, LS_RASTER, S2_ASSETS, S2_ORIGIN, S2_RASTER, clear_gdal_http_cache,
    landsat_clear, reference_composite, s2_clear,
)
from pyproj import Transformer

from pipeline.errors import InputDataError
from pipeline.tiles import stac_read
from pipeline.tiles.area import TileBox, area_tiles, local_utm
from pipeline.tiles.composite import clear_pixels, median_composite, nan_median
from pipeline.tiles.stac import StacRequest, StacSource
from pipeline.tiles.stac_api import StacQuery, request_headers
from pipeline.tiles.stac_read import TileJob, tile_groups

TO_LONLAT = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


def s2_source(world, out: Path, reach_km=0.3, point=(800_480, 9_783_520), **query) -> StacSource:
    settings = {"url": world.api_url, "collection": "s2-test", "datetime": "2020-01-01/2020-12-31",
                "assets": S2_ASSETS, "max_cloud_cover": 50.0, "retries": 2,
                "retry_delay_s": 0.05, "timeout_s": 10, **query}
    q = StacQuery(**settings)
    tiles = area_tiles([TO_LONLAT.transform(*point)], reach_km, None, 320.0, CRS)
    return StacSource(StacRequest(q, tuple(tiles), 10.0), out)


def composite_of(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def test_clear_pixels_follow_scl_classes_and_qa_bits():
    scl = np.arange(12, dtype=np.uint8)[None]
    assert np.flatnonzero(clear_pixels(scl, "sentinel2_scl")[0]).tolist() == [2, 4, 5, 6, 7, 11]
    qa = np.array([[21824, 21824 | 8, 21824 | 16, 21824 | 2, 21824 | 4, 1, 21824 | 32]])
    assert clear_pixels(qa, "landsat_qa_pixel")[0].tolist() == [True] + [False] * 5 + [True]


def test_median_composite_ignores_masked_scenes():
    scenes = np.array([[[[1.0]]], [[[5.0]]], [[[100.0]]]])  # (time, band, 1, 1)
    clear = np.array([[[True]], [[True]], [[False]]])
    composite, count = median_composite(scenes, clear, 1)
    assert composite[0, 0, 0] == 3.0 and count[0, 0] == 2
    composite, _ = median_composite(scenes, clear, 3)
    assert np.isnan(composite[0, 0, 0])


def test_area_grid_is_anchored_and_covers_the_reach():
    lon, lat = TO_LONLAT.transform(800_480, 9_783_520)
    tiles = area_tiles([(lon, lat)], 0.3, None, 320.0)
    assert local_utm(lon, lat) == CRS and {t.crs for t in tiles} == {CRS}
    assert len(tiles) == 9 and tiles[0].bounds == (800_000.0, 9_783_680.0, 800_320.0, 9_784_000.0)
    assert tiles == area_tiles([(lon, lat), (lon, lat)], 0.3, None, 320.0)  # shared, not doubled


def test_sentinel2_composites_equal_a_numpy_reference(stac_world, tmp_path):
    source = s2_source(stac_world, tmp_path / "stac")
    source.check((1, 2, 3), None, True)
    assert [i["id"] for i in source.items] == ["S2-0", "S2-1", "S2-2"]  # S2-3: 60% cloud
    written = 0
    for tile in source.request.tiles:
        path, error = source.acquire(tile)
        if error is not None:
            continue
        written += 1
        got = composite_of(path)
        ref, count = reference_composite(stac_world.s2[:3], S2_ASSETS, "SCL", s2_clear,
                                         tile.bounds, 10.0, S2_RASTER)
        np.testing.assert_allclose(got[:4], ref, atol=1e-6)
        np.testing.assert_array_equal(got[4], count)
        finite = got[:4][np.isfinite(got[:4])]
        # clouds are 0.85 and shadows -0.095 after scale/offset: neither reaches a tile
        assert finite.max() <= 0.2 and finite.min() >= 0.03 - 0.1 - 1e-6
        record = json.loads(path.with_suffix(".json").read_text())
        assert record["items"] == ["S2-0", "S2-1", "S2-2"] and record["cloud_cover"] == [10, 20, 35]
    assert written == 8


def test_a_tile_cloudy_in_every_scene_is_rejected_with_the_reason(stac_world, tmp_path):
    source = s2_source(stac_world, tmp_path / "stac")
    path, error = source.acquire(source.request.tiles[0])  # the top-left tile
    assert error.startswith("too few clear observations: 0% of the tile's pixels")
    assert "data.tiles.stac.min_clear_share" in error and not path.exists()


def test_landsat_composites_apply_scale_offset_and_qa_bits(stac_world, tmp_path):
    q = StacQuery(stac_world.api_url, "landsat-test", "2020-01-01/2020-12-31", LS_ASSETS,
                  cloud_mask="landsat_qa_pixel", mask_asset="qa_pixel", retries=1)
    tiles = area_tiles([TO_LONLAT.transform(801_120, 9_782_880)], 0.1, None, 960.0, CRS)
    source = StacSource(StacRequest(q, tuple(tiles), 30.0), tmp_path / "stac")
    (tile,) = tiles
    path, error = source.acquire(tile)
    assert error is None
    ref, count = reference_composite(stac_world.landsat, LS_ASSETS, "qa_pixel", landsat_clear,
                                     tile.bounds, 30.0, LS_RASTER)
    got = composite_of(path)
    np.testing.assert_allclose(got[:4], ref, atol=1e-5)
    np.testing.assert_array_equal(got[4], count)
    assert count.min() >= 1 and count.max() == 3 and np.nanmax(got[:4]) < 0.36


def test_server_and_client_cloud_filters_agree(stac_world, tmp_path):
    # rustac does not declare the query extension: `server` falls back to filtering here
    server = s2_source(stac_world, tmp_path / "a", cloud_filter="server")
    client = s2_source(stac_world, tmp_path / "b", cloud_filter="client")
    assert [i["id"] for i in server.items] == [i["id"] for i in client.items]
    everything = s2_source(stac_world, tmp_path / "c", max_cloud_cover=100.0)
    assert len(everything.items) == 4


def test_a_search_finding_nothing_says_what_to_loosen(stac_world, tmp_path):
    source = s2_source(stac_world, tmp_path, datetime="2015-01-01/2015-12-31")
    with pytest.raises(InputDataError, match="widen data.tiles.stac.datetime"):
        source.check((1, 2, 3), None, True)
    cloudy = s2_source(stac_world, tmp_path, max_cloud_cover=5.0, cloud_filter="client")
    with pytest.raises(InputDataError, match=r"4 item\(s\).*raise data.tiles.stac.max_cloud_cover"):
        cloudy.check((1, 2, 3), None, True)


def test_a_bad_collection_or_api_is_a_config_level_error(stac_world, tmp_path):
    source = s2_source(stac_world, tmp_path, collection="nope")
    with pytest.raises(InputDataError, match="collection 'nope' not found.*stac.collection") as e:
        source.check((1, 2, 3), None, True)
    assert e.value.exit_code == 2
    dead = s2_source(stac_world, tmp_path, url=stac_world.cogs.url + "/nothing", retries=0)
    with pytest.raises(InputDataError, match="cannot open it.*data.tiles.stac.url"):
        dead.check((1, 2, 3), None, True)


def test_secrets_come_from_named_environment_variables(monkeypatch):
    q = StacQuery("http://x", "c", "2020", S2_ASSETS, token_env="MY_TOKEN",
                  headers_env=(("X-Key", "MY_KEY"),))
    with pytest.raises(InputDataError, match="MY_TOKEN .*not set") as e:
        request_headers(q)
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    monkeypatch.setenv("MY_KEY", "k")
    assert request_headers(q) == {"Authorization": "Bearer s3cret", "X-Key": "k"}
    assert "s3cret" not in repr(q) and "s3cret" not in str(e.value)


def test_a_finished_tile_is_not_acquired_again(stac_world, tmp_path):
    source = s2_source(stac_world, tmp_path / "stac", reach_km=0.1)
    tile = source.request.tiles[0]
    source.acquire(tile)
    before = sum(stac_world.cogs.log.requests.values())
    path, error = source.acquire(tile)
    assert error is None and sum(stac_world.cogs.log.requests.values()) == before
    again = StacSource(source.request, tmp_path / "next", reuse=tmp_path / "stac")
    assert again.acquire(tile)[1] is None and (tmp_path / "next" / path.name).is_file()
    assert sum(stac_world.cogs.log.requests.values()) == before


@pytest.mark.parametrize("fault", ["500", "429", "drop"])
def test_cog_faults_are_retried_to_the_same_composite(stac_world, cog_faults, tmp_path, fault):
    clean = s2_source(stac_world, tmp_path / "clean", reach_km=0.1)
    tile = clean.request.tiles[0]
    expected = composite_of(clean.acquire(tile)[0])
    clear_gdal_http_cache()  # the clean read's blocks: the faulty read must fetch them again
    faulty = s2_source(stac_world, tmp_path / "faulty", reach_km=0.1, retries=4)
    cog_faults.inject(fault, 2, match="/s2/")
    path, error = faulty.acquire(tile)
    assert error is None and cog_faults.log.faults[fault] == 2
    np.testing.assert_array_equal(composite_of(path), expected)


def test_a_cog_server_that_keeps_failing_gives_one_clear_line(stac_world, cog_faults, tmp_path):
    source = s2_source(stac_world, tmp_path, reach_km=0.1, retries=1)
    source.check((1, 2, 3), None, True)
    cog_faults.inject("500", 1000, match="/s2/")
    with pytest.raises(InputDataError) as e:
        source.acquire(source.request.tiles[0])
    message = str(e.value)
    assert "\n" not in message and "data.tiles.stac.retries" in message
    assert "500" in message and "/s2/" in message


def test_read_threads_bound_the_reads_at_once_and_change_no_value(stac_world, cog_faults,
                                                                 tmp_path, monkeypatch):
    monkeypatch.setattr(stac_world.cogs, "latency_s", 0.02)  # reads that can overlap do
    composites = {}
    for threads in (1, 2):
        clear_gdal_http_cache()
        stac_world.cogs.log.most_in_flight = 0
        source = s2_source(stac_world, tmp_path / str(threads), read_threads=threads)
        outcomes = source.acquire_many(source.request.tiles)
        assert stac_world.cogs.log.most_in_flight == threads
        composites[threads] = [composite_of(path) for path, error in outcomes.values()
                               if error is None]
    assert len(composites[1]) >= 2
    for one, two in zip(composites[1], composites[2], strict=True):
        np.testing.assert_array_equal(one, two)


def test_a_compute_runs_on_read_threads_and_leaves_no_task_running():
    import dask

    running, most, lock = set(), [0], threading.Lock()

    def task(i, fail):
        with lock:
            running.add(i)
            most[0] = max(most[0], len(running))
        time.sleep(0.02 if fail else 0.3)
        with lock:
            running.discard(i)
        if fail:
            raise OSError("a read failed")
        return i

    q = StacQuery("http://127.0.0.1:1", "c", "2020", ("B04",), retries=1, retry_delay_s=0.0,
                  read_threads=3)
    load = lambda: dask.delayed(list)([dask.delayed(task)(i, False) for i in range(3)])
    assert stac_read.computed(q, load) == [0, 1, 2] and most[0] == 3
    failing = lambda: dask.delayed(list)([dask.delayed(task)(i, i == 0) for i in range(3)])
    with pytest.raises(OSError, match="a read failed"):
        stac_read.computed(q, failing)
    assert running == set()


@pytest.mark.parametrize("resolution_m, origin", [
    (10.0, (0.0, 0.0)), (15.0, (0.0, 0.0)),
    (15.0, S2_ORIGIN),  # a grid_origin off the 15 m lattice of the CRS origin (as make demo-stac)
])
def test_tiles_read_in_groups_equal_tiles_read_alone_bit_for_bit(stac_world, cog_faults, tmp_path,
                                                                 monkeypatch, resolution_m, origin):
    tile_m = 32 * resolution_m
    q = StacQuery(stac_world.api_url, "s2-test", "2020-01-01/2020-12-31", S2_ASSETS,
                  max_cloud_cover=50.0, retries=1)
    tiles = tuple(area_tiles([TO_LONLAT.transform(800_480, 9_783_520)], 0.3, None, tile_m, CRS,
                             origin))
    grouped = StacSource(StacRequest(q, tiles, resolution_m), tmp_path / "grouped")
    alone = StacSource(StacRequest(q, tiles, resolution_m, group_px=1), tmp_path / "alone")
    reads = []
    load = stac_read.load_windows
    monkeypatch.setattr(stac_read, "load_windows", lambda *a: reads.append(a[1]) or load(*a))
    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always")
        outcomes = grouped.acquire_many(tiles)
    # nothing raw reaches the user (rasterio's spurious one when resampling is filtered)
    assert not [w for w in raised if not issubclass(
        w.category, (DeprecationWarning, PendingDeprecationWarning))], \
        [f"{w.category.__name__}: {w.message}" for w in raised]
    assert len(reads) == 1 and len(tiles) >= 4  # one read of the tiles' area
    assert len(alone.acquire_many(tiles)) == len(tiles) and len(reads) == 1 + len(tiles)
    written = 0
    for tile in tiles:
        (path, error), (path_alone, error_alone) = outcomes[tile.tile_id], alone.acquire(tile)
        record = json.loads(path.with_suffix(".json").read_text())
        assert record == json.loads(path_alone.with_suffix(".json").read_text())
        assert error == error_alone and path.is_file() == path_alone.is_file()
        if error_alone is not None:
            continue
        written += 1
        got = composite_of(path)
        np.testing.assert_array_equal(got, composite_of(path_alone))
        if resolution_m == 10.0:  # the reference samples 10 m pixels at the tile's pixel centres
            ref, count = reference_composite(stac_world.s2[:3], S2_ASSETS, "SCL", s2_clear,
                                             tile.bounds, resolution_m, S2_RASTER)
            np.testing.assert_allclose(got[:4], ref, atol=1e-6)
            np.testing.assert_array_equal(got[4], count)
    assert written >= 3


def test_tile_groups_are_blocks_of_the_grid_meeting_the_same_items(tmp_path):
    def job(col, row, items=("a",), side=320.0, offset=0.0):
        tile = TileBox(f"e{col}_n{row}", CRS, (col * side + offset, row * side,
                                                (col + 1) * side + offset, (row + 1) * side))
        return TileJob(tile, tuple({"id": i} for i in items), "k", tmp_path / "t.tif")

    jobs = [job(c, r) for r in (3, 2, 1, 0) for c in range(4)]
    groups = tile_groups(jobs, 10.0, 64)  # 64 px = 2 tiles of 32 px on a side
    assert [[j.tile.tile_id for j in g] for g in groups][:2] == [
        ["e0_n3", "e1_n3", "e0_n2", "e1_n2"], ["e2_n3", "e3_n3", "e2_n2", "e3_n2"]]
    assert len(groups) == 4 and sum(map(len, groups)) == 16
    assert len(tile_groups(jobs[:1] + [job(1, 3, items=("a", "b"))], 10.0, 64)) == 2
    # a lattice half a pixel off the CRS origin (a grid_origin) groups as well; two lattices don't
    assert len(tile_groups([job(0, 0, offset=5.0), job(1, 0, offset=5.0)], 10.0, 640)) == 1
    assert len(tile_groups([job(0, 0, offset=5.0), job(2, 0)], 10.0, 640)) == 2
    assert len(tile_groups([job(0, 0, side=325.0), job(1, 0, side=325.0)], 10.0, 640)) == 2
    assert len(tile_groups(jobs, 10.0, 32)) == 16  # the tile size: tile by tile


@pytest.mark.parametrize("scenes", [1, 2, 3, 4, 7, 12])
def test_nan_median_is_numpys_nanmedian_bit_for_bit(scenes):
    rng = np.random.default_rng(scenes)
    values = (rng.random((scenes, 3, 20, 20)) * 0.4 - 0.1).astype(np.float32)
    usable = rng.random((scenes, 20, 20)) < 0.6
    values[~np.broadcast_to(usable[:, None], values.shape)] = np.nan
    count = usable.sum(axis=0)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning) if (count == 0).any() \
            else warnings.catch_warnings():
        expected = np.nanmedian(values, axis=0).astype(np.float32)
    got = nan_median(values, count)
    np.testing.assert_array_equal(got[:, count > 0], expected[:, count > 0])


@pytest.mark.parametrize("size_px", [32, 20])  # the tiles' own size, and resampled (bilinear)
def test_a_tile_read_as_it_is_composited_equals_a_read_of_its_cog(stac_world, tmp_path,
                                                                  size_px):
    from pipeline.tiles.reading import ReadSpec, TileShard, read_tile

    source = s2_source(stac_world, tmp_path)
    spec = ReadSpec((1, 2, 3), size_px, np.array([[0.0, 0.3]] * 3))
    shard = TileShard(0, source.request.tiles)
    fresh = list(source.read(shard, spec))  # composited now: read from memory
    assert sum(t.error is None for t in fresh) >= 4
    for tile in fresh:
        if tile.error is not None:
            assert not tile.path.is_file() and "too few clear" in tile.error
            continue
        pixels, meta = read_tile(tile.path, spec.bands, spec.size_px, spec.ranges, spec)
        np.testing.assert_array_equal(tile.pixels, pixels)
        assert tile.meta == meta and tile.pixels.shape == (size_px, size_px, 3)
    again = list(source.read(shard, spec))  # cached: read from the COGs
    assert [t.error for t in again] == [t.error for t in fresh]
    assert all(a.meta == f.meta for a, f in zip(again, fresh, strict=True))
