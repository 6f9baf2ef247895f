"""The ``stac`` tile source: cloud-masked median composites of STAC items, tile by tile.

The area is a grid of tiles around the survey clusters and over a region
(:mod:`pipeline.tiles.area`). One search (:mod:`pipeline.tiles.stac_api`) finds the items; each
tile then reads only its own windows of the items' COGs over HTTP range requests (odc-stac with
Dask, GDAL's ``/vsicurl/``), masks clouds and shadows, applies the assets' scale and offset, and
takes the per-pixel median of the clear observations (:mod:`pipeline.tiles.composite`).

Each tile is written to ``<folder>/<tile_id>.tif``, a float32 COG whose bands are the assets in
model order plus a last band ``clear_count`` (clear observations per pixel), with its
provenance in ``<tile_id>.json`` (items, their datetimes and cloud cover, clear-observation
statistics, and the cache ``key``: a hash of the search terms, the tile and the ids of the items
it used). A tile whose JSON holds the same key is not read again, in this folder or in the
``reuse`` folder of a previous run. Tiles with too few clear observations are rejected with that
reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import rasterio
from shapely.geometry import box, shape

from pipeline.errors import InputDataError
from pipeline.geo.cog import write_cog
from pipeline.tiles.area import TileBox, search_geometry
from pipeline.tiles.composite import clear_pixels, median_composite, scaled
from pipeline.tiles.inspect import TilesInfo
from pipeline.tiles.reading import ReadSpec, TileRead, TileShard, in_shards, read_or_reject, read_tile
from pipeline.tiles.scaling import sample_indices
from pipeline.tiles.stac_api import (
    StacQuery,
    failing_url,
    one_line,
    request_headers,
    search_items,
)

COUNT_BAND = "clear_count"
TOO_FEW_CLEAR = "too few clear observations"
PROVENANCE_COLUMNS = ("stac_items", "stac_datetimes", "stac_cloud_cover", "clear_count_mean",
                      "clear_share")


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
    """

    query: StacQuery
    tiles: tuple[TileBox, ...]
    resolution_m: float
    resampling: str = "nearest"
    min_clear_observations: int = 1
    min_clear_share: float = 0.5


@dataclass(frozen=True)
class StacSource:
    """Composites of a STAC search written into ``path``; a shard's items are :class:`TileBox`\\ es.

    The search runs once, on first use of :attr:`items` (``check`` does it before any shard),
    and its result travels with the source to the workers.
    """

    request: StacRequest
    path: Path
    reuse: Path | None = None
    kind: ClassVar[str] = "stac"

    @cached_property
    def items(self) -> tuple[dict[str, Any], ...]:
        """The search's items (STAC item dicts), sorted by datetime then id."""
        bbox = search_geometry(self.request.tiles).bounds
        return tuple(search_items(self.request.query, bbox))

    def files(self) -> list[Path]:
        """No local file: the config's search terms key ingest's fingerprint."""
        return []

    def describe(self) -> TilesInfo:
        return TilesInfo(self.kind, len(self.request.tiles), ())

    def count(self) -> int:
        return len(self.request.tiles)

    def shards(self, shard_size: int) -> list[TileShard]:
        return in_shards(self.request.tiles, shard_size)

    def check(self, bands: tuple[int, ...], crs: str | None, scaled_: bool) -> None:
        """Search now (so a search finding nothing stops the run before any tile); composites
        are float reflectance, so ``data.tiles.scale`` must say how they become 0..255."""
        if max(bands) > len(self.request.query.assets):
            raise InputDataError(f"data.tiles.bands {list(bands)}: the composites have "
                                 f"{len(self.request.query.assets)} band(s), "
                                 f"data.tiles.stac.assets {list(self.request.query.assets)}.")
        if not scaled_:
            raise InputDataError("data.tiles.scale: STAC composites are float reflectance; set "
                                 "a range (e.g. [0, 0.3]) or `percentile`.")
        _ = self.items

    def sample(self, bands: tuple[int, ...], k: int) -> list[np.ma.MaskedArray]:
        """Up to ``k`` evenly spaced tiles, acquired now (a later read reuses them)."""
        out = []
        for i in sample_indices(len(self.request.tiles), k):
            path, error = self.acquire(self.request.tiles[i])
            if error is None:
                with rasterio.open(path) as src:
                    out.append(src.read(list(bands), masked=True))
        return out

    def read(self, shard: TileShard, spec: ReadSpec) -> Iterator[TileRead]:
        for tile in shard.items:
            path, error = self.acquire(tile)
            if error is not None:
                yield TileRead(f"stac/{tile.tile_id}", path, error=error)
                continue
            yield read_or_reject(f"stac/{tile.tile_id}", path, lambda p=path: read_tile(
                p, spec.bands, spec.size_px, spec.ranges, spec))

    def acquire(self, tile: TileBox) -> tuple[Path, str | None]:
        """The tile's composite COG (acquired unless cached), or why it is rejected."""
        self.path.mkdir(parents=True, exist_ok=True)
        path = self.path / f"{tile.tile_id}.tif"
        footprint = tile.footprint()
        items = [i for i in self.items if footprint_of(i).intersects(footprint)]
        key = cache_key(self.request, tile, [i["id"] for i in items])
        cached = _cached(path, key) or (self.reuse and _cached(self.reuse / path.name, key,
                                                                copy_to=path))
        if cached:
            return path, cached.get("rejected")
        if not items:
            return path, _record(path, key, {"rejected": "no item of the search covers the tile"})
        return path, acquire_tile(self.request, tile, items, path, key)


def cache_key(request: StacRequest, tile: TileBox, item_ids: list[str]) -> str:
    """Hash of what a tile's composite depends on: search terms, tile, items, composite."""
    payload = {"search": request.query.search_terms(), "tile": [tile.crs, *tile.bounds],
               "items": sorted(item_ids), "resolution_m": request.resolution_m,
               "resampling": request.resampling,
               "min_clear": [request.min_clear_observations, request.min_clear_share]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def acquire_tile(request: StacRequest, tile: TileBox, items: list[dict[str, Any]], path: Path,
                 key: str) -> str | None:
    """Read the tile's windows of ``items``, composite them, write COG and provenance.

    Returns:
        None when written, else the reason the tile is rejected (too few clear observations).
    """
    query = request.query
    data = load_windows(request, tile, items)
    scenes = np.stack([_physical(data[a], items, a) for a in query.assets], axis=1)
    mask = data[query.mask_asset].values if query.cloud_mask != "none" else None
    composite, count = median_composite(scenes, clear_pixels(mask, query.cloud_mask),
                                        request.min_clear_observations)
    share = float((count >= request.min_clear_observations).mean())
    times = [str(t)[:10] for t in data["time"].values]
    provenance = {
        "items": [i["id"] for i in items],
        "datetimes": [i["properties"].get("datetime") for i in items],
        "cloud_cover": [i["properties"].get("eo:cloud_cover") for i in items],
        "scenes": times, "clear_count_mean": round(float(count.mean()), 4),
        "clear_share": round(share, 4),
    }
    if share < request.min_clear_share:
        reason = (f"{TOO_FEW_CLEAR}: {share:.0%} of the tile's pixels have at least "
                  f"{request.min_clear_observations} clear observation(s) in {len(times)} "
                  f"scene(s), below data.tiles.stac.min_clear_share {request.min_clear_share}; "
                  "widen data.tiles.stac.datetime or raise data.tiles.stac.max_cloud_cover")
        return _record(path, key, {**provenance, "rejected": reason})
    clear_dates = [t for t, n in zip(times, _clear_scene_counts(mask, query.cloud_mask, len(times)))
                   if n]
    date = statistics.median_low(clear_dates or times)
    tmp = path.with_name(f".{path.name}.tmp")
    write_cog(tmp, np.concatenate([composite, count[None].astype(np.float32)]), tile.crs,
              data.odc.geobox.affine, [*query.assets, COUNT_BAND],
              tags={"ACQUISITION_DATE": date, "STAC_COLLECTION": query.collection,
                    "STAC_ITEMS": ",".join(provenance["items"]), "STAC_KEY": key})
    os.replace(tmp, path)
    return _record(path, key, provenance)


def load_windows(request: StacRequest, tile: TileBox, items: list[dict[str, Any]]) -> Any:
    """The tile's windows of every item's assets, one time step per solar day (xarray)."""
    import odc.stac
    import pystac
    from odc.geo.geobox import GeoBox

    query = request.query
    bands = list(query.assets) + ([query.mask_asset] if query.cloud_mask != "none" else [])
    odc.stac.configure_rio(**gdal_options(query))
    geobox = GeoBox.from_bbox(tile.bounds, crs=tile.crs, resolution=request.resolution_m,
                              tight=True)  # the tile itself, also off the resolution grid
    resampling = {"*": request.resampling}
    if query.cloud_mask != "none":
        resampling[query.mask_asset] = "nearest"
    try:
        data = odc.stac.load([pystac.Item.from_dict(i) for i in items], bands=bands,
                             geobox=geobox, groupby="solar_day", resampling=resampling,
                             chunks={}, patch_url=_url_signer(query.sign))
        return data.compute(scheduler="threads")
    except Exception as exc:  # GDAL/rasterio errors after GDAL's own retries
        urls = [i["assets"][b]["href"] for i in items for b in bands if b in i["assets"]]
        culprit = failing_url(urls, request_headers(query), query.timeout_s) or one_line(exc)
        raise InputDataError(f"tile {tile.tile_id}: reading the items' COGs failed after "
                             f"{query.retries} retries ({culprit}; {one_line(exc)}); raise "
                             "data.tiles.stac.retries or try again later (finished tiles are "
                             "kept).") from exc


def gdal_options(query: StacQuery) -> dict[str, Any]:
    """GDAL settings for COG reads over HTTP: retries with backoff, headers, no directory
    listing, a timeout."""
    options: dict[str, Any] = {
        "GDAL_HTTP_MAX_RETRY": str(query.retries),
        "GDAL_HTTP_RETRY_DELAY": str(query.retry_delay_s),
        "GDAL_HTTP_RETRY_CODES": "429,500,502,503,504",
        "GDAL_HTTP_TIMEOUT": str(int(query.timeout_s)),
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.TIF,.TIFF",
        "GDAL_HTTP_MULTIRANGE": "SINGLE_GET",
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


def _physical(band: Any, items: list[dict[str, Any]], asset: str) -> np.ndarray:
    """A band's values (time, h, w) as float32 with the asset's scale/offset, NaN at nodata."""
    values = band.values
    nodata = band.attrs.get("nodata")
    if nodata is None and np.issubdtype(values.dtype, np.integer):
        nodata = 0
    info = (items[0].get("assets", {}).get(asset, {}).get("raster:bands") or [{}])[0]
    return scaled(values, nodata, info.get("scale", 1.0), info.get("offset", 0.0))


def _clear_scene_counts(mask: np.ndarray | None, kind: str, n: int) -> list[int]:
    clear = clear_pixels(mask, kind)
    return [1] * n if clear is None else [int(c.sum()) for c in clear]


def _record(path: Path, key: str, provenance: dict[str, Any]) -> str | None:
    """Write the tile's provenance JSON (atomically, last, so it marks a finished tile)."""
    tmp = path.with_name(f".{path.stem}.json.tmp")
    tmp.write_text(json.dumps({"key": key, **provenance}, indent=1))
    os.replace(tmp, path.with_suffix(".json"))
    return provenance.get("rejected")


def _cached(path: Path, key: str, copy_to: Path | None = None) -> dict[str, Any] | None:
    """The provenance of a finished tile acquired with ``key`` (copied to ``copy_to``)."""
    record_file = path.with_suffix(".json")
    try:
        record = json.loads(record_file.read_text())
    except (OSError, ValueError):
        return None
    if record.get("key") != key or ("rejected" not in record and not path.is_file()):
        return None
    if copy_to is not None and copy_to != path:
        copy_to.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file():
            shutil.copy2(path, copy_to)
        shutil.copy2(record_file, copy_to.with_suffix(".json"))
    return record


def provenance_table(paths: list[str]) -> list[dict[str, Any]]:
    """Catalog columns (:data:`PROVENANCE_COLUMNS`) of the tiles at ``paths``, in order."""
    rows = []
    for path in paths:
        record = json.loads(Path(path).with_suffix(".json").read_text())
        rows.append({"stac_items": ",".join(record["items"]),
                     "stac_datetimes": ",".join(d or "" for d in record["datetimes"]),
                     "stac_cloud_cover": ",".join("" if c is None else f"{c:g}"
                                                  for c in record["cloud_cover"]),
                     "clear_count_mean": record["clear_count_mean"],
                     "clear_share": record["clear_share"]})
    return rows


def footprint_of(item: dict[str, Any]) -> Any:
    """An item's footprint (its geometry, else its bbox), lon/lat."""
    return shape(item["geometry"]) if item.get("geometry") else box(*item["bbox"])
