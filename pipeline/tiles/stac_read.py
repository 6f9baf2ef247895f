"""Reading STAC items' windows for a group of neighbouring tiles: which tiles go together, one
odc-stac load (Dask, GDAL's ``/vsicurl/``, HTTP range requests) of their area, and each tile's
place in it.

Tiles are grouped by block of the fixed grid (at most ``group_px`` pixels on a side), CRS, size,
pixel lattice and the items meeting them, so that a group's read holds, for each tile, exactly
the scenes a read of the tile alone would: the same items, grouped by the same solar days, on
the same pixels. :mod:`pipeline.tiles.stac` composites and writes each tile.
"""

from __future__ import annotations

import itertools
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

from pipeline.errors import InputDataError
from pipeline.tiles.area import TileBox
from pipeline.tiles.stac_api import StacQuery, failing_url, one_line, request_headers

GROUP_PX = 512
"""Default side, in pixels, of the blocks of neighbouring tiles read together."""

@dataclass(frozen=True)
class StacRequest:
    """What to acquire: the search, the tiles and the composite (plain values).

    Attributes:
        query: the search and how to reach the API.
        tiles: the grid tiles to acquire.
        resolution_m: pixel side in the tiles' CRS units.
        resampling: how item pixels meet the tile grid (``nearest``, ``bilinear``, ...); the
            mask band is always read with ``nearest``.
        min_clear_observations: pixels with fewer clear observations are nodata.
        min_clear_share: tiles with a smaller share of such pixels are rejected.
        group_px: neighbouring tiles are read together, in blocks of the grid at most this
            many pixels on a side (memory per read: ``group_px``² x scenes x assets);
            the tile size or less reads tile by tile. Does not change any tile's values.
    """

    query: StacQuery
    tiles: tuple[TileBox, ...]
    resolution_m: float
    resampling: str = "nearest"
    min_clear_observations: int = 1
    min_clear_share: float = 0.5
    group_px: int = GROUP_PX


@dataclass(frozen=True)
class TileJob:
    """A tile to acquire: the items meeting it, its cache key, its COG's path."""

    tile: TileBox
    items: tuple[dict[str, Any], ...]
    key: str
    path: Path


def tile_groups(jobs: Sequence[TileJob], resolution_m: float, group_px: int
                ) -> list[list[TileJob]]:
    """``jobs`` in groups read together: tiles of one CRS and size meeting the same items, on
    one pixel lattice, in one block of ``group_px`` x ``group_px`` pixels of the grid, in their
    given order.

    One lattice: the tiles' corners lie the same fraction of a pixel (``resolution_m``) from
    the CRS origin, as on a grid anchored at any ``grid_origin``; a group's read is anchored at
    the top-left corner of its tiles' bounding box, a corner on that lattice, so each tile is
    cut from it without resampling anything. A tile whose side is not a whole number of pixels
    is a group of its own.
    """
    groups: dict[tuple[Any, ...], list[TileJob]] = {}
    for n, job in enumerate(jobs):
        minx, miny, maxx, maxy = job.tile.bounds
        side_m = maxx - minx
        per_group = max(1, int(group_px * resolution_m // side_m))
        if not (_whole(side_m / resolution_m) and _whole((maxy - miny) / resolution_m)):
            key: tuple[Any, ...] = ("alone", n)
        else:
            key = (job.tile.crs, side_m, tuple(i["id"] for i in job.items),
                   _phase(minx / resolution_m), _phase(maxy / resolution_m),
                   math.floor(round(minx / side_m) / per_group),
                   math.floor(round(miny / side_m) / per_group))
        groups.setdefault(key, []).append(job)
    return list(groups.values())


def _whole(pixels: float) -> bool:
    return abs(pixels - round(pixels)) < 1e-6


def _phase(pixels: float) -> float:
    """Where ``pixels`` falls within its pixel, in [0, 1), to 1e-6."""
    return round(pixels - math.floor(pixels), 6) % 1.0


@dataclass(frozen=True)
class GroupRead:
    """The pixels of a group of tiles: each band's (time, h, w) values and nodata, the scenes'
    dates and the geotransform of the group's top-left pixel."""

    bands: dict[str, tuple[np.ndarray, float | None]]
    times: list[str]
    origin: Affine


def read_group(request: StacRequest, jobs: Sequence[TileJob]) -> GroupRead:
    """One read of the area of a group's tiles (their bounding box) from their items."""
    tiles = [job.tile for job in jobs]
    bounds = (min(t.bounds[0] for t in tiles), min(t.bounds[1] for t in tiles),
              max(t.bounds[2] for t in tiles), max(t.bounds[3] for t in tiles))
    where = f"tile {tiles[0].tile_id}" if len(tiles) == 1 else \
        f"tiles {tiles[0].tile_id} ... {tiles[-1].tile_id} ({len(tiles)} tiles)"
    data = load_windows(request, bounds, tiles[0].crs, list(jobs[0].items), where)
    return GroupRead({name: (data[name].values, data[name].attrs.get("nodata"))
                      for name in data.data_vars},
                     [str(t)[:10] for t in data["time"].values], data.odc.geobox.affine)


def tile_window(origin: Affine, bounds: Sequence[float], resolution_m: float
         ) -> tuple[Affine, tuple[slice, slice]]:
    """The geotransform of the tile at ``bounds`` and its rows and columns in a read whose
    top-left pixel is at ``origin`` (both on one pixel grid)."""
    minx, miny, maxx, maxy = bounds
    col, row = round((minx - origin.c) / resolution_m), round((origin.f - maxy) / resolution_m)
    width, height = round((maxx - minx) / resolution_m), round((maxy - miny) / resolution_m)
    transform = origin * Affine.translation(col, row)
    return transform, (slice(row, row + height), slice(col, col + width))


def load_windows(request: StacRequest, bounds: Sequence[float], crs: str,
                 items: list[dict[str, Any]], where: str) -> Any:
    """The windows over ``bounds`` (``crs`` units) of every item's assets, one time step per
    solar day (a computed xarray Dataset); ``where`` names the tiles in errors."""
    import odc.stac
    import pystac
    from odc.geo.geobox import GeoBox

    query = request.query
    bands = list(query.assets) + ([query.mask_asset] if query.cloud_mask != "none" else [])
    odc.stac.configure_rio(**gdal_options(query))
    geobox = GeoBox.from_bbox(tuple(bounds), crs=crs, resolution=request.resolution_m,
                              tight=True)  # the tiles themselves, also off the resolution grid
    resampling = {"*": request.resampling}
    if query.cloud_mask != "none":
        resampling[query.mask_asset] = "nearest"
    stac_items = [pystac.Item.from_dict(i) for i in items]
    try:
        return computed(query, lambda: odc.stac.load(
            stac_items, bands=bands, geobox=geobox, groupby="solar_day", resampling=resampling,
            chunks={}, patch_url=_url_signer(query.sign)))
    except Exception as exc:  # GDAL/rasterio errors after every retry
        urls = [i["assets"][b]["href"] for i in items for b in bands if b in i["assets"]]
        culprit = failing_url(urls, request_headers(query), query.timeout_s) or one_line(exc)
        raise InputDataError(f"{where}: reading the items' COGs failed after "
                             f"{query.retries} retries ({culprit}; {one_line(exc)}); raise "
                             f"{query.settings}.retries or try again later (finished tiles "
                             "are kept).") from exc


def computed(query: StacQuery, load: Callable[[], Any]) -> Any:
    """``load()`` (a lazy odc-stac Dataset) computed on ``query.read_threads`` threads (None:
    one per CPU core), retried with backoff up to ``query.retries`` times; the last failure is
    raised.

    The threads are a pool of our own, shut down before this returns: Dask's own pool has one
    thread per core only for the thread that first imported ``dask.threaded``, and Python's
    default (cores + 4) for any other (our reads run on a reader thread); and the reads a
    failed compute left running went on reading after it raised, into the next test's count.

    Four threads on two cores read 1.45x faster from a server 20 ms away, but in about 65 runs
    of the STAC source tests a read then twice stalled for two HTTP timeouts before its retry
    passed (cause not found), so more threads are a setting, not the default.

    GDAL retries HTTP errors itself, but not a body cut midway, whose bytes it may keep in its
    range cache: a retry therefore bypasses that cache.
    """
    import dask.threaded
    import odc.stac

    for attempt in itertools.count():
        pool = ThreadPoolExecutor(query.read_threads or os.cpu_count() or 1)
        try:
            with warnings.catch_warnings():
                # spurious: rasterio's reproject into an array warns of its own in-memory
                # destination (odc-geo issue 131); the reads are checked against numpy
                warnings.filterwarnings("ignore", "Dataset has no geotransform",
                                        NotGeoreferencedWarning)
                # the scheduler as a function: named, Dask imports `distributed` to look for
                # a client
                return load().compute(scheduler=dask.threaded.get, pool=pool)
        except Exception:
            if attempt >= query.retries:
                raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        time.sleep(query.retry_delay_s * 2 ** attempt)
        odc.stac.configure_rio(**gdal_options(query), CPL_VSIL_CURL_NON_CACHED="/vsicurl/")


def gdal_options(query: StacQuery) -> dict[str, Any]:
    """GDAL settings for COG reads over HTTP: retries with backoff, headers, no directory
    listing, a timeout; one range per request (object stores answer no multi-range request,
    and ``SINGLE_GET`` fetched the whole span between a window's first and last block: 9x the
    bytes in ``make bench-acquire``); a 32 MiB cache of fetched ranges, so that blocks shared
    by neighbouring groups are fetched once (bytes sent / blocks needed fell from 1.66 at
    GDAL's 16 MiB to 1.21; 64 MiB gave 1.01 but 17% more peak memory)."""
    options: dict[str, Any] = {
        "GDAL_HTTP_MAX_RETRY": str(query.retries),
        "GDAL_HTTP_RETRY_DELAY": str(query.retry_delay_s),
        "GDAL_HTTP_RETRY_CODES": "429,500,502,503,504",
        "GDAL_HTTP_TIMEOUT": str(int(query.timeout_s)),
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF",
        "GDAL_HTTP_MULTIRANGE": "SERIAL",
        "CPL_VSIL_CURL_CACHE_SIZE": str(32 << 20),
    }
    headers = request_headers(query)
    if headers:
        options["GDAL_HTTP_HEADERS"] = "\r\n".join(f"{k}: {v}" for k, v in headers.items())
    return options


def _url_signer(sign: str) -> Any:
    if sign != "planetary_computer":
        return None
    import planetary_computer  # checked when the catalog was opened

    return planetary_computer.sign
