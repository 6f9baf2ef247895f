"""The ``stac`` tile source: cloud-masked median composites of STAC items, tile by tile.

The area is a grid of tiles around the survey clusters and over a region
(:mod:`pipeline.tiles.area`). One search (:mod:`pipeline.tiles.stac_api`) finds the items. A
shard's tiles that are not cached yet are read in groups of neighbours (a block of the grid,
at most ``group_px`` pixels on a side, whose tiles meet the same items): one odc-stac load
(Dask, GDAL's ``/vsicurl/``, HTTP range requests for the windows over the group only) per
group, instead of one per tile, whose fixed cost (building and running a Dask graph, opening
every COG) dominated small tiles. Each tile is then cut out of its group's read, its clouds and
shadows masked, the assets' scale and offset applied, and the per-pixel median of the clear
observations taken (:mod:`pipeline.tiles.composite`): the same values as a read of the tile
alone, since a tile's pixels are the same pixels of the same grid either way.

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
import statistics
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import rasterio
from affine import Affine
from shapely.geometry import box, shape

from pipeline.errors import InputDataError
from pipeline.geo.cog import copy_as_cog, raster_in_memory
from pipeline.tiles.area import TileBox, search_geometry
from pipeline.tiles.composite import clear_pixels, median_composite, scaled
from pipeline.tiles.inspect import TilesInfo
from pipeline.tiles.reading import (
    ReadSpec,
    TileRead,
    TileShard,
    in_shards,
    read_or_reject,
    read_tile,
    read_whole,
)
from pipeline.tiles.scaling import sample_indices
from pipeline.tiles.records import cached_record, write_record
from pipeline.tiles.stac_api import search_items
from pipeline.tiles.stac_read import (
    GroupRead,
    StacRequest,
    TileJob,
    read_group,
    tile_groups,
    tile_window,
)

COUNT_BAND = "clear_count"
TOO_FEW_CLEAR = "too few clear observations"
WRITERS = 2
"""Tiles composited and written at a time: while one thread writes a COG (GDAL, without
Python's lock), another composites (numpy, mostly without it). Five interleaved pairs of
``make bench-acquire``'s 400 tiles: median 9.66 s with two, 10.43 s with one (two faster in
four pairs)."""
PROVENANCE_COLUMNS = ("stac_items", "stac_datetimes", "stac_cloud_cover", "clear_count_mean",
                      "clear_share")


@dataclass(frozen=True)
class Outcome:
    """A tile's acquisition: its COG (or where it would be), why it is rejected, and, when it
    was composited just now for a read, the tile as read from the composite in memory (the
    values a read of the COG gives, without reading it back)."""

    path: Path
    error: str | None = None
    read: TileRead | None = None


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

    @cached_property
    def footprints(self) -> tuple[Any, ...]:
        """The footprint of each of :attr:`items` (:func:`footprint_of`), in their order."""
        return tuple(footprint_of(i) for i in self.items)

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
        outcomes = self.outcomes(shard.items, spec)
        for tile in shard.items:
            got = outcomes[tile.tile_id]
            if got.read is not None:
                yield got.read
            elif got.error is not None:
                yield TileRead(f"stac/{tile.tile_id}", got.path, error=got.error)
            else:  # cached by an earlier run
                yield read_or_reject(f"stac/{tile.tile_id}", got.path, lambda p=got.path: read_tile(
                    p, spec.bands, spec.size_px, spec.ranges, spec))

    def acquire(self, tile: TileBox) -> tuple[Path, str | None]:
        """The tile's composite COG (acquired unless cached), or why it is rejected."""
        return self.acquire_many([tile])[tile.tile_id]

    def acquire_many(self, tiles: Sequence[TileBox]) -> dict[str, tuple[Path, str | None]]:
        """Each tile's composite COG, or why it is rejected, by tile id (see :meth:`outcomes`)."""
        return {tile_id: (got.path, got.error) for tile_id, got in self.outcomes(tiles).items()}

    def outcomes(self, tiles: Sequence[TileBox], spec: ReadSpec | None = None
                 ) -> dict[str, Outcome]:
        """Each tile's acquisition, by tile id; tiles composited now are also read by ``spec``.

        Cached tiles (here or in ``reuse``) are not read again; the others are read in groups
        of neighbours that meet the same items (:func:`tile_groups`), one read per group.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        outcomes: dict[str, Outcome] = {}
        pending = []
        for tile in tiles:
            job = self.job(tile)
            cached = cached_record(job.path, job.key) or (
                self.reuse and cached_record(self.reuse / job.path.name, job.key, copy_to=job.path))
            if cached:
                outcomes[tile.tile_id] = Outcome(job.path, cached.get("rejected"))
            elif not job.items:
                outcomes[tile.tile_id] = Outcome(job.path, _record(
                    job.path, job.key, {"rejected": "no item of the search covers the tile"}))
            else:
                pending.append(job)
        groups = tile_groups(pending, self.request.resolution_m, self.request.group_px)
        for job, outcome in acquire_groups(self.request, groups, spec):
            outcomes[job.tile.tile_id] = outcome
        return outcomes

    def job(self, tile: TileBox) -> TileJob:
        """The tile, the items meeting it, its cache key and its file in :attr:`path`."""
        footprint = tile.footprint()
        items = tuple(i for i, f in zip(self.items, self.footprints, strict=True)
                      if f.intersects(footprint))
        key = cache_key(self.request, tile, [i["id"] for i in items])
        return TileJob(tile, items, key, self.path / f"{tile.tile_id}.tif")


def cache_key(request: StacRequest, tile: TileBox, item_ids: list[str]) -> str:
    """Hash of what a tile's composite depends on: search terms, tile, items, composite."""
    payload = {"search": request.query.search_terms(), "tile": [tile.crs, *tile.bounds],
               "items": sorted(item_ids), "resolution_m": request.resolution_m,
               "resampling": request.resampling,
               "min_clear": [request.min_clear_observations, request.min_clear_share]}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def write_group(request: StacRequest, jobs: Sequence[TileJob], read: GroupRead,
                spec: ReadSpec | None, writers: ThreadPoolExecutor) -> list[Outcome]:
    """Each tile cut out of its group's read, composited and written (:func:`composite_tile`)
    on the ``writers`` threads, and read by ``spec`` when given; in the order of ``jobs``."""
    def one(job: TileJob) -> Outcome:
        transform, (rows, cols) = tile_window(read.origin, job.tile.bounds, request.resolution_m)
        cut = {name: (values[:, rows, cols], nodata)
               for name, (values, nodata) in read.bands.items()}
        return composite_tile(request, job, cut, read.times, transform, spec)

    return list(writers.map(one, jobs))


def acquire_groups(request: StacRequest, groups: Sequence[Sequence[TileJob]],
                   spec: ReadSpec | None = None) -> Iterator[tuple[TileJob, Outcome]]:
    """Every group read and written, the next group's read running while the current one is
    composited and written (two groups in memory at most), :data:`WRITERS` tiles at a time."""
    with ThreadPoolExecutor(max_workers=1) as reader, ThreadPoolExecutor(WRITERS) as writers:
        pending = reader.submit(read_group, request, groups[0]) if groups else None
        for n, group in enumerate(groups):
            read = pending.result()
            pending = reader.submit(read_group, request, groups[n + 1]) \
                if n + 1 < len(groups) else None
            yield from zip(group, write_group(request, group, read, spec, writers),
                           strict=True)


def composite_tile(request: StacRequest, job: TileJob,
                   bands: dict[str, tuple[np.ndarray, float | None]], times: list[str],
                   transform: Affine, spec: ReadSpec | None = None) -> Outcome:
    """Mask, scale and composite a tile's scenes, write its COG and provenance.

    Args:
        bands: asset name -> (integer (time, h, w) values of the tile, the asset's nodata).
        times: the scenes' dates (``YYYY-MM-DD``), one per time step.
        transform: the tile's geotransform.
        spec: when given, the tile is also read as ingest reads it, from the composite in
            memory: no read back of the COG just written (a fifth of a 64 px tile's time).

    Returns:
        the COG, or the reason the tile is rejected (too few clear observations).
    """
    query, items, path = request.query, list(job.items), job.path
    scenes = np.stack([_physical(*bands[a], items, a) for a in query.assets], axis=1)
    mask = bands[query.mask_asset][0] if query.cloud_mask != "none" else None
    clear = clear_pixels(mask, query.cloud_mask)
    composite, count = median_composite(scenes, clear, request.min_clear_observations)
    share = float((count >= request.min_clear_observations).mean())
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
        return Outcome(path, _record(path, job.key, {**provenance, "rejected": reason}))
    clear_dates = [t for t, n in zip(times, _clear_scene_counts(clear, len(times))) if n]
    date = statistics.median_low(clear_dates or times)
    tmp, read = path.with_name(f".{path.name}.tmp"), None
    with raster_in_memory(np.concatenate([composite, count[None].astype(np.float32)]),
                          job.tile.crs, transform, [*query.assets, COUNT_BAND],
                          tags={"ACQUISITION_DATE": date, "STAC_COLLECTION": query.collection,
                                "STAC_ITEMS": ",".join(provenance["items"]),
                                "STAC_KEY": job.key}) as src:
        copy_as_cog(src, tmp)
        if spec is not None:
            read = read_or_reject(f"stac/{job.tile.tile_id}", path,
                                  lambda: read_whole(src, path, spec))
    os.replace(tmp, path)
    return Outcome(path, _record(path, job.key, provenance), read)


def _physical(values: np.ndarray, nodata: float | None, items: list[dict[str, Any]],
              asset: str) -> np.ndarray:
    """A band's values (time, h, w) as float32 with the asset's scale/offset, NaN at nodata."""
    if nodata is None and np.issubdtype(values.dtype, np.integer):
        nodata = 0
    info = (items[0].get("assets", {}).get(asset, {}).get("raster:bands") or [{}])[0]
    return scaled(values, nodata, info.get("scale", 1.0), info.get("offset", 0.0))


def _clear_scene_counts(clear: np.ndarray | None, n: int) -> list[int]:
    return [1] * n if clear is None else [int(c.sum()) for c in clear]


def _record(path: Path, key: str, provenance: dict[str, Any]) -> str | None:
    """Write the tile's provenance record (last, so it marks a finished tile); the reason the
    tile is rejected, if any."""
    write_record(path, key, provenance)
    return provenance.get("rejected")


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
