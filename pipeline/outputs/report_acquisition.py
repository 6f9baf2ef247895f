"""The report's acquisition section: where a STAC run's imagery and night lights came from.

Read from ``ingest/acquisition.json`` (:mod:`pipeline.tiles.acquisition`) and
``label/nightlights.json`` (:mod:`pipeline.tiles.stac_raster`); empty for runs on local files.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from pipeline.tiles.acquisition import items_table


def acquisition_section(imagery: Path | None, nightlights: Path | None) -> str:
    """HTML: the imagery search and its items, clear-observation statistics, the night-light
    search and its items; an empty string when the run acquired nothing from a catalog."""
    parts = []
    if imagery is not None:
        s = json.loads(imagery.read_text())
        parts.append(
            f"<h3>Imagery</h3><p>{_search(s)}; assets {html.escape(', '.join(s['assets']))}, "
            f"cloud mask {html.escape(s['cloud_mask'])}, items with eo:cloud_cover &le; "
            f"{s['max_cloud_cover']:g}%. {s['tiles']:,} tiles; clear share mean "
            f"{s['clear_share_mean']:.3f} (min {s['clear_share_min']:.3f}); clear observations "
            f"per pixel {s['clear_count_mean']:.2f} on average; {s['tiles_too_few_clear']} "
            "tile(s) rejected for too few clear observations. Per tile: "
            "<code>ingest/tiles.parquet</code> (stac_* and clear_* columns) and "
            "<code>ingest/stac/&lt;tile&gt;.json</code>.</p>"
            + items_table(s).to_html(index=False, border=0, na_rep="–"))
    if nightlights is not None:
        n = json.loads(nightlights.read_text())
        rows = pd.DataFrame({"id": n["items"], "datetime": n["datetimes"]})
        parts.append(
            f"<h3>Night lights</h3><p>{_search(n)}; asset {html.escape(n['asset'])}, the "
            f"{html.escape(n['reducer'])} of {n['time_steps']} time step(s) per pixel, in "
            f"{html.escape(n['crs'])} at {n['resolution']:g} (the items' own grid): "
            "<code>label/nightlights.tif</code>.</p>"
            + rows.to_html(index=False, border=0, na_rep="–"))
    return "<h2>Acquisition (STAC)</h2>" + "".join(parts) if parts else ""


def _search(record: dict) -> str:
    return (f"STAC API <code>{html.escape(record['url'])}</code>, collection "
            f"<code>{html.escape(record['collection'])}</code>, "
            f"{html.escape(record['datetime'])}")
