"""A STAC acquisition in one record: where the imagery came from, which items, how clear.

The per-tile provenance (the catalog's ``stac_*``, ``clear_count_mean`` and ``clear_share``
columns, see :mod:`pipeline.tiles.stac`) summed up for ``ingest/acquisition.json`` and the report:
the API, collection and search terms, every item found with its date, cloud cover and the number
of catalog tiles it covers, and the clear-observation statistics over the tiles.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pandas as pd

from pipeline.tiles.stac_api import StacQuery


def acquisition_summary(query: StacQuery, items: Sequence[dict[str, Any]],
                        catalog: pd.DataFrame, too_few_clear: int) -> dict[str, Any]:
    """The acquisition's record (JSON-able).

    Args:
        query: the search.
        items: the items the search found (STAC item dicts).
        catalog: the usable tiles with their ``stac_items`` (comma-separated ids),
            ``clear_share`` and ``clear_count_mean`` columns.
        too_few_clear: tiles rejected for too few clear observations.
    """
    used = Counter(i for ids in catalog["stac_items"] for i in str(ids).split(",") if i)
    return {
        "url": query.url, "collection": query.collection, "datetime": query.datetime,
        "assets": list(query.assets), "cloud_mask": query.cloud_mask,
        "max_cloud_cover": query.max_cloud_cover,
        "items": [{"id": i["id"], "datetime": i["properties"].get("datetime"),
                   "cloud_cover": i["properties"].get("eo:cloud_cover"),
                   "tiles": used.get(i["id"], 0)} for i in items],
        "tiles": len(catalog), "tiles_too_few_clear": too_few_clear,
        "clear_share_mean": round(float(catalog["clear_share"].mean()), 4),
        "clear_share_min": round(float(catalog["clear_share"].min()), 4),
        "clear_count_mean": round(float(catalog["clear_count_mean"].mean()), 4),
    }


def items_table(summary: dict[str, Any]) -> pd.DataFrame:
    """One row per item of a summary: id, datetime, cloud cover (%), tiles it covers."""
    return pd.DataFrame(summary.get("items", []),
                        columns=["id", "datetime", "cloud_cover", "tiles"])
