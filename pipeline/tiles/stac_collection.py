"""What a STAC collection offers the pipeline (for ``init --stac``): bands, mask, items, clouds.

Opens the API with the same retries and one-line errors as a search
(:mod:`pipeline.tiles.stac_api`), checks the collection, picks the assets to read in model order
(RGB, then NIR) and the cloud mask from the asset names its ``item_assets`` (or its first item)
offer, and counts the items over an area and dates with their median ``eo:cloud_cover``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from pipeline.errors import InputDataError
from pipeline.tiles.stac_api import (
    StacQuery,
    check_collection,
    kept_failing,
    open_catalog,
    transient,
)

LAYOUTS = (
    # (red, green, blue, nir), cloud mask, mask asset, pixel side (m)
    (("B04", "B03", "B02", "B08"), "sentinel2_scl", "SCL", 10.0),  # Sentinel-2 L2A, PC
    (("red", "green", "blue", "nir"), "sentinel2_scl", "scl", 10.0),  # Sentinel-2 L2A, Earth Search
    (("red", "green", "blue", "nir08"), "landsat_qa_pixel", "qa_pixel", 30.0),  # Landsat C2 L2
)
"""Asset layouts recognised, in the order they are tried (the mask asset decides a tie)."""
COUNT_CAP = 500
"""Items counted at most (a count above it is reported as "500+")."""


@dataclass(frozen=True)
class CollectionInfo:
    """What ``init`` found in a collection.

    Attributes:
        assets: asset names to read, RGB then NIR where offered.
        cloud_mask: ``sentinel2_scl``, ``landsat_qa_pixel`` or ``none``; mask_asset its asset.
        resolution_m: the assets' pixel side, metres.
        offered: every asset name the collection's items carry.
        n_items: items over the area and dates (at most :data:`COUNT_CAP`).
        cloud_covers: their ``eo:cloud_cover``, percent (items that state it).
    """

    url: str
    collection: str
    datetime: str
    assets: tuple[str, ...]
    cloud_mask: str
    mask_asset: str
    resolution_m: float
    offered: tuple[str, ...]
    n_items: int
    cloud_covers: tuple[float, ...]

    @property
    def counted(self) -> str:
        """The item count in words: ``4``, or ``500+`` at the cap."""
        return f"{self.n_items}{'+' if self.n_items >= COUNT_CAP else ''}"

    @property
    def median_cloud_cover(self) -> float | None:
        return statistics.median(self.cloud_covers) if self.cloud_covers else None

    def items_at_most(self, cloud_cover: float) -> int:
        """Items with ``eo:cloud_cover`` at most ``cloud_cover`` (or without one)."""
        unstated = self.n_items - len(self.cloud_covers)
        return unstated + sum(c <= cloud_cover for c in self.cloud_covers)


def pick_assets(offered: list[str]) -> tuple[tuple[str, ...], str, str, float]:
    """(assets in model order, cloud mask, mask asset, resolution) from the asset names offered.

    Raises:
        InputDataError: no red, green and blue assets under a known layout's names.
    """
    names = {name.lower(): name for name in offered}
    fits = [layout for layout in LAYOUTS if all(b.lower() in names for b in layout[0][:3])]
    masked = [layout for layout in fits if layout[2].lower() in names]
    if not (masked or fits):
        raise InputDataError(f"no red/green/blue assets among {sorted(offered)}; expected the "
                             "names of Sentinel-2 L2A (B04, B03, B02 or red, green, blue) or "
                             "Landsat C2 L2 (red, green, blue); set data.tiles.stac.assets by "
                             "hand.")
    bands, mask, mask_asset, resolution = (masked or fits)[0]
    assets = tuple(names[b.lower()] for b in bands if b.lower() in names)
    if mask_asset.lower() not in names:
        return assets, "none", mask_asset, resolution
    return assets, mask, names[mask_asset.lower()], resolution


def describe_collection(query: StacQuery, bbox: tuple[float, float, float, float]
                        ) -> CollectionInfo:
    """Open the API, check the collection and count its items over ``bbox`` in ``datetime``.

    Raises:
        InputDataError: not a STAC API, no such collection (its collections listed), no usable
            assets, or no item over the area and dates.
        StageError: the API kept failing after its retries.
    """
    client = open_catalog(query)
    collection = check_collection(client, query)
    url = f"{query.url.rstrip('/')}/search"
    try:
        search = client.search(collections=[query.collection], bbox=bbox,
                               datetime=query.datetime, max_items=COUNT_CAP, limit=100)
        items = [item.to_dict() for item in search.items()]
    except Exception as exc:  # pystac-client raises APIError
        if transient(exc):
            raise kept_failing(query, url, exc) from exc
        raise InputDataError(f"STAC search at {url} was refused ({exc}); check --datetime."
                             ) from exc
    offered = sorted((collection.extra_fields.get("item_assets") or {})
                     or (items[0]["assets"] if items else {}))
    if not items:
        area = ", ".join(f"{v:.4f}" for v in bbox)
        raise InputDataError(f"STAC API {query.url}: no item of {query.collection!r} over "
                             f"[{area}] (lon/lat, the survey's extent) in {query.datetime}; "
                             "widen --datetime or check the collection's extent.")
    assets, mask, mask_asset, resolution = pick_assets(offered)
    covers = tuple(float(c) for i in items
                   if (c := i["properties"].get("eo:cloud_cover")) is not None)
    return CollectionInfo(query.url, query.collection, query.datetime, assets, mask,
                          mask_asset, _resolution(items[0], assets[0]) or resolution,
                          tuple(offered), len(items), covers)


def _resolution(item: dict[str, Any], asset: str) -> float | None:
    """The asset's pixel side from its ``proj:transform`` (or the item's ``gsd``), if stated."""
    transform = item["assets"].get(asset, {}).get("proj:transform") \
        or item["properties"].get("proj:transform")
    if transform:
        return abs(float(transform[0]))
    gsd = item["assets"].get(asset, {}).get("gsd") or item["properties"].get("gsd")
    return float(gsd) if gsd else None
