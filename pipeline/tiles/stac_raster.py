"""One raster from a STAC collection: its items over an area, reduced in time (night lights).

The search is :mod:`pipeline.tiles.stac_api`'s (paging, retries, secrets from the environment,
one-line errors that name the setting to loosen). The items' asset is read once over the area
(odc-stac, GDAL ``/vsicurl/`` range requests) on the first item's own pixel grid (its CRS and
resolution, cropped to the area), one time step per solar day, and reduced per pixel over the
steps that have a value. The result is a float32 COG with its provenance beside it; a later
call with the same search terms, area, reducer and item ids reuses it instead of reading again.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import InputDataError
from pipeline.geo.cog import write_cog
from pipeline.tiles.composite import scaled
from pipeline.tiles.records import cached_record, write_record
from pipeline.tiles.stac_api import StacQuery, failing_url, one_line, request_headers, search_items

REDUCERS = {"median": np.nanmedian, "mean": np.nanmean, "max": np.nanmax}
"""How the time steps become one value per pixel (NaN, i.e. nodata, left out)."""


@dataclass(frozen=True)
class RasterRequest:
    """What to acquire (plain values).

    Attributes:
        query: the search; ``query.assets`` holds the one asset read.
        bbox: (west, south, east, north), degrees: the area the raster must cover.
        reducer: a key of :data:`REDUCERS`.
    """

    query: StacQuery
    bbox: tuple[float, float, float, float]
    reducer: str = "median"


def acquire_raster(request: RasterRequest, path: Path, reuse: Path | None = None
                   ) -> dict[str, Any]:
    """Search, read and reduce the raster into ``path`` (a COG), unless already there.

    Args:
        request: the search, the area and the reducer.
        path: the COG to write; its provenance goes to ``path.with_suffix(".json")``.
        reuse: a previous acquisition's COG, copied to ``path`` when its key matches.

    Returns:
        the provenance: url, collection, datetime, asset, reducer, items, datetimes, the
        searched bbox, the raster's CRS and resolution, and the cache ``key``.

    Raises:
        InputDataError: bad collection, nothing found (the message says what to loosen), or
            reading the items failed after the retries (the URL named).
    """
    items = search_items(request.query, request.bbox)
    key = cache_key(request, [i["id"] for i in items])
    record = cached_record(path, key) or (reuse and cached_record(reuse, key, copy_to=path))
    if record:
        return record
    stack, geobox, nodata = load_steps(request, items)
    raster = reduce_steps(stack, request.reducer)
    years = [int(str(i["properties"].get("datetime") or "0000")[:4]) for i in items]
    record = {"url": request.query.url, "collection": request.query.collection,
              "datetime": request.query.datetime, "asset": request.query.assets[0],
              "reducer": request.reducer, "items": [i["id"] for i in items],
              "datetimes": [i["properties"].get("datetime") for i in items],
              "time_steps": int(stack.shape[0]), "bbox": list(request.bbox),
              "crs": str(geobox.crs), "resolution": abs(float(geobox.resolution.x)),
              "shape": list(raster.shape), "source_nodata": nodata, "key": key}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write_cog(tmp, raster[None], str(geobox.crs), geobox.affine, [request.query.assets[0]],
              tags={"year": str(statistics.median_low(years)),
                    "STAC_COLLECTION": request.query.collection,
                    "STAC_ITEMS": ",".join(record["items"]), "STAC_KEY": key,
                    "REDUCER": request.reducer})
    os.replace(tmp, path)
    write_record(path, key, record)
    return record


def padded_bbox(bounds: tuple[float, ...], margin_km: float) -> tuple[float, float, float, float]:
    """(west, south, east, north) degrees grown by ``margin_km`` on every side (a degree of
    longitude taken at the box's widest latitude), clipped to the globe."""
    west, south, east, north = bounds
    dlat = margin_km / 111.32
    widest = min(max(abs(south), abs(north)) + dlat, 89.0)
    dlon = margin_km / (111.32 * np.cos(np.radians(widest)))
    return (max(west - dlon, -180.0), max(south - dlat, -90.0), min(east + dlon, 180.0),
            min(north + dlat, 90.0))


def cache_key(request: RasterRequest, item_ids: list[str]) -> str:
    """Hash of what the raster depends on: search terms, area, reducer and the items found."""
    payload = {"search": request.query.search_terms(), "bbox": list(request.bbox),
               "reducer": request.reducer, "items": sorted(item_ids)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def load_steps(request: RasterRequest, items: list[dict[str, Any]]
               ) -> tuple[np.ndarray, Any, float | None]:
    """The asset of every item over the area: float32 (time, height, width), NaN at nodata,
    scale/offset applied, on the first item's pixel grid; with that grid (an odc GeoBox) and
    the source nodata value."""
    import odc.stac
    import pystac
    from odc.geo.geom import box

    from pipeline.tiles.stac_read import computed, gdal_options

    query, asset = request.query, request.query.assets[0]
    stac_items = [pystac.Item.from_dict(i) for i in items]
    odc.stac.configure_rio(**gdal_options(query))
    try:
        native = odc.stac.parse_item(stac_items[0]).geoboxes([asset])[0]
        area = box(*request.bbox, "EPSG:4326").to_crs(native.crs) & native.extent
        geobox = native.enclosing(area)
        data = computed(query, lambda: odc.stac.load(
            stac_items, bands=[asset], geobox=geobox, groupby="solar_day",
            resampling="nearest", chunks={}))
    except Exception as exc:  # GDAL/rasterio errors after every retry, bad metadata
        urls = [i["assets"][asset]["href"] for i in items if asset in i.get("assets", {})]
        culprit = failing_url(urls, request_headers(query), query.timeout_s) or one_line(exc)
        raise InputDataError(f"{query.settings}: reading asset {asset!r} of {len(items)} "
                             f"item(s) of {query.collection!r} failed ({culprit}; "
                             f"{one_line(exc)}); check {query.settings}.asset, raise "
                             f"{query.settings}.retries or try again later.") from exc
    band = data[asset]
    info = (items[0].get("assets", {}).get(asset, {}).get("raster:bands") or [{}])[0]
    nodata = band.attrs.get("nodata", info.get("nodata"))
    nodata = None if nodata is None or np.isnan(nodata) else float(nodata)
    stack = scaled(band.values, nodata, info.get("scale", 1.0), info.get("offset", 0.0))
    return stack, geobox, nodata


def reduce_steps(stack: np.ndarray, reducer: str) -> np.ndarray:
    """Per pixel over the time steps with a value: float32 (height, width), NaN where none.

    Args:
        stack: float (time, height, width), NaN where a step has no value.
        reducer: ``median``, ``mean`` or ``max``.
    """
    with warnings.catch_warnings():  # pixels with no value in any step stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return REDUCERS[reducer](stack, axis=0).astype(np.float32)
