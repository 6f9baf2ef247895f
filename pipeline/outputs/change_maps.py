"""Change maps: the per-cell change between two runs in the formats export writes.

==================  ================================================================
file                what
==================  ================================================================
change.tif          Cloud-Optimized GeoTIFF in run B's tile grid: bands ``change_<t>``,
                    ``change_lower_<t>``, ``change_upper_<t>`` per target, NaN nodata
change.gpkg         layer ``change``: every cell with all change columns, EPSG:4326
change.parquet      the same as GeoParquet
change.csv          the same without geometry
change_<t>.png      the change of each target per cell (blue: fell, red: rose)
change.html         the change report: per target, cells, mean change, share changed
                    beyond the interval, share that moved quintile, OOD share; the maps;
                    what the interval covers
==================  ================================================================
"""

from __future__ import annotations

import html
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm

from pipeline.geo.rasterize import write_tile_raster
from pipeline.outputs.figures import plt, save_figure
from pipeline.outputs.report_figures import file_uri

LAYER = "change"

INTERVAL_NOTE = (
    "The interval of a change is the difference of the two prediction intervals (lower B − "
    "upper A, upper B − lower A). By a union bound it covers the true change with probability "
    "at least 1 − 2 × (1 − coverage) for places like the training clusters, whatever the "
    "correlation of the two maps' errors. Both maps come from one model and share its errors: "
    "a bias that stays put cancels in B − A, so for such errors the interval is conservative; "
    "errors that move with the imagery (season, sensor, processing) are not covered. A "
    "'changed' cell is one whose interval excludes zero; a quintile move is relative to each "
    "map's own ranking.")


def write_change_maps(cells: gpd.GeoDataFrame, summary: pd.DataFrame, tiles: gpd.GeoDataFrame,
                      catalog: gpd.GeoDataFrame, out: Path,
                      title: str) -> list[Path]:
    """Write every format into ``out``.

    Args:
        cells: per-cell change (:class:`pipeline.runs.change.Change` ``cells``), EPSG:4326.
        summary: one row per target (``Change.summary``).
        tiles: run B's tiles with their ``cell_id`` and footprints; catalog: B's catalog.
        out: the folder (created).
        title: the maps' and the report's title (the two runs).
    """
    out.mkdir(parents=True, exist_ok=True)
    written = []
    gpkg = out / "change.gpkg"
    gpkg.unlink(missing_ok=True)
    cells.to_file(gpkg, layer=LAYER, driver="GPKG")
    cells.to_parquet(out / "change.parquet")
    cells.drop(columns="geometry").to_csv(out / "change.csv", index=False)
    written += [gpkg, out / "change.parquet", out / "change.csv"]
    bands = [f"{p}_{t}" for t in summary["target"] for p in ("change", "change_lower",
                                                               "change_upper")]
    values = cells.set_index("cell_id")[bands].reindex(tiles["cell_id"].astype(str))
    per_tile = tiles.assign(**{b: values[b].to_numpy(dtype=float) for b in bands})
    write_tile_raster(out / "change.tif", per_tile, catalog, bands)
    written.append(out / "change.tif")
    pngs = [plot_change(cells, t, title, out / f"change_{t}.png") for t in summary["target"]]
    written += pngs
    written.append(write_change_report(summary, pngs, out / "change.html", title))
    return written


def plot_change(cells: gpd.GeoDataFrame, target: str, title: str, path: Path) -> Path:
    """The change of ``target`` per cell on a diverging scale centred on zero."""
    values = cells[f"change_{target}"].to_numpy(dtype=float)
    span = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    norm = TwoSlopeNorm(0.0, -max(span, 1e-9), max(span, 1e-9))
    fig, ax = plt.subplots(figsize=(8, 7), dpi=120)
    cells.plot(column=f"change_{target}", ax=ax, cmap="RdBu_r", norm=norm, edgecolor="face",
               linewidth=0.2, legend=True, legend_kwds={"label": f"change in {target} (B − A)"},
               missing_kwds={"color": "lightgrey"})
    changed = cells[cells[f"changed_{target}"].astype(bool)]
    if len(changed):
        changed.boundary.plot(ax=ax, color="black", linewidth=0.8)
    ax.set_title(f"{title}: {target}\n(outlined: the change interval excludes 0)")
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    save_figure(fig, path)
    return path


def write_change_report(summary: pd.DataFrame, pngs: list[Path], path: Path, title: str) -> Path:
    """``change.html``: the summary table, the maps, and what the interval covers."""
    table = summary.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)
    images = "".join(f'<figure><img src="{file_uri(p)}" alt="{html.escape(p.stem)}" '
                     'style="max-width:100%"></figure>' for p in pngs)
    text = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>'
            f"{html.escape(title)}</title></head><body style=\"font-family:sans-serif;"
            f"max-width:1000px;margin:auto\"><h1>{html.escape(title)}</h1><h2>Change between "
            f"the runs</h2>{table}<p>{html.escape(INTERVAL_NOTE)}</p>{images}</body></html>")
    path.write_text(text, encoding="utf-8")
    return path
