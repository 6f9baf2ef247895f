"""Change between two runs' maps, cell by cell (``poverty-pipeline change RUN_A RUN_B``).

The two maps are aligned by ``cell_id`` of their exported cells (``export/predictions.parquet``:
tiles, km squares, quadkeys, H3 or admin units, as each run's ``export.grid`` made them; else
the per-tile ``predict/grid.parquet`` by ``tile_id``). For every target both predict, per cell:

- ``change_<t>`` = B − A in the outcome's units;
- ``change_lower_<t>`` / ``change_upper_<t>`` = (lower_B − upper_A, upper_B − lower_A): the
  difference of the two prediction intervals. By a union bound it covers the true change with
  probability at least 1 − 2 × (1 − coverage), whatever the correlation of the two maps'
  errors. Two maps from one model share its errors (the same bias at the same place cancels in
  B − A), so for persistent errors it is conservative; it says nothing about errors that change
  with the imagery itself (another season, sensor or processing can move a map where nothing
  moved on the ground);
- ``changed_<t>``: the interval excludes 0;
- ``quintile_a_<t>`` / ``quintile_b_<t>`` (0 = poorest fifth within each map, by
  :func:`pipeline.runs.listing.quintiles`) and ``quintile_moved_<t>``;
- ``ood_<t>``: out of distribution in either map (a change there carries no guarantee).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.engine.rundir import RunDir
from pipeline.errors import InputDataError, MissingArtifactError
from pipeline.runs.listing import quintiles


@dataclass(frozen=True)
class Change:
    """What :func:`change_between` found.

    Attributes:
        cells: one row per cell in both maps: ``cell_id``, the columns listed in the module
            docstring, geometry (B's, EPSG:4326).
        summary: per target: cells, only_a, only_b, mean_change, share_changed,
            share_quintile_moved, share_ood.
        tiles: run B's per-tile grid with each tile's ``cell_id`` (for the GeoTIFF).
        catalog: run B's tile catalog (``ingest/tiles.parquet``; the GeoTIFF's grid).
    """

    cells: gpd.GeoDataFrame
    summary: pd.DataFrame
    tiles: gpd.GeoDataFrame
    catalog: gpd.GeoDataFrame

    @property
    def targets(self) -> list[str]:
        return list(self.summary["target"])


def read_cells(run: Path) -> gpd.GeoDataFrame:
    """A run's exported cells, else its per-tile grid with ``tile_id`` as ``cell_id``."""
    rundir = RunDir(run)
    if not rundir.is_run():
        raise MissingArtifactError(f"{run}: not a run directory (no manifest.json).")
    cells = rundir.artifact("export", "predictions.parquet", required=False)
    if cells is not None:
        return gpd.read_parquet(cells)
    grid = gpd.read_parquet(rundir.artifact("predict", "grid.parquet"))
    return grid.rename(columns={"tile_id": "cell_id"})


def cell_change(a: pd.DataFrame, b: pd.DataFrame, target: str) -> dict[str, np.ndarray]:
    """The per-cell columns of one target, for rows of ``a`` and ``b`` aligned by cell."""
    pa, pb = a[f"pred_{target}"].to_numpy(float), b[f"pred_{target}"].to_numpy(float)
    lower = b.get(f"lower_{target}", pd.Series(np.nan, index=b.index)).to_numpy(float) \
        - a.get(f"upper_{target}", pd.Series(np.nan, index=a.index)).to_numpy(float)
    upper = b.get(f"upper_{target}", pd.Series(np.nan, index=b.index)).to_numpy(float) \
        - a.get(f"lower_{target}", pd.Series(np.nan, index=a.index)).to_numpy(float)
    ok = np.isfinite(pa) & np.isfinite(pb)
    qa, qb = np.full(len(pa), -1), np.full(len(pb), -1)
    qa[ok], qb[ok] = quintiles(pa[ok]), quintiles(pb[ok])
    ood = np.zeros(len(pa), dtype=bool)
    for frame in (a, b):
        if f"ood_{target}" in frame:
            ood |= frame[f"ood_{target}"].to_numpy(float) > 0
    return {f"change_{target}": pb - pa, f"change_lower_{target}": lower,
            f"change_upper_{target}": upper,
            f"changed_{target}": (lower > 0) | (upper < 0),
            f"quintile_a_{target}": qa, f"quintile_b_{target}": qb,
            f"quintile_moved_{target}": ok & (qa != qb), f"ood_{target}": ood}


def change_between(run_a: Path, run_b: Path) -> Change:
    """Align the two runs' maps by cell and compute the change of every shared target.

    Raises:
        MissingArtifactError: not a run directory, or no predictions yet.
        InputDataError: the maps share no cell or no target.
    """
    a, b = read_cells(run_a), read_cells(run_b)
    targets = [c.removeprefix("pred_") for c in b.columns
               if c.startswith("pred_") and c in a.columns]
    merged_ids = pd.Index(b["cell_id"].astype(str)).intersection(a["cell_id"].astype(str))
    if not targets or len(merged_ids) == 0:
        raise InputDataError(
            f"{run_a} and {run_b}: the maps share {len(merged_ids)} cell(s) and "
            f"{len(targets)} target(s); change needs both. Map the same area with the same "
            "export.grid and the same bundle.")
    a_rows = a.assign(cell_id=a["cell_id"].astype(str)).set_index("cell_id").loc[merged_ids]
    b_rows = b.assign(cell_id=b["cell_id"].astype(str)).set_index("cell_id").loc[merged_ids]
    columns: dict[str, Any] = {"cell_id": merged_ids.to_numpy()}
    rows = []
    for target in targets:
        values = cell_change(a_rows, b_rows, target)
        columns.update(values)
        delta = values[f"change_{target}"]
        rows.append({"target": target, "cells": int(np.isfinite(delta).sum()),
                     "only_a": len(a) - len(merged_ids), "only_b": len(b) - len(merged_ids),
                     "mean_change": float(np.nanmean(delta)),
                     "share_changed": float(np.mean(values[f"changed_{target}"])),
                     "share_quintile_moved": float(np.mean(values[f"quintile_moved_{target}"])),
                     "share_ood": float(np.mean(values[f"ood_{target}"]))})
    cells = gpd.GeoDataFrame(columns, geometry=b_rows.geometry.to_numpy(), crs=b.crs)
    tiles, catalog = tiles_of(run_b, cells)
    return Change(cells.to_crs("EPSG:4326"), pd.DataFrame(rows), tiles, catalog)


def tiles_of(run: Path, cells: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Run ``run``'s tiles, each with the ``cell_id`` of the cell holding its centre, and its
    catalog."""
    rundir = RunDir(run)
    grid = gpd.read_parquet(rundir.artifact("predict", "grid.parquet"))
    catalog = gpd.read_parquet(rundir.artifact("ingest", "tiles.parquet"))
    centres = gpd.GeoDataFrame(geometry=gpd.points_from_xy(grid["lon"], grid["lat"]),
                               crs="EPSG:4326")
    joined = gpd.sjoin(centres, cells[["cell_id", "geometry"]].to_crs("EPSG:4326"), how="left",
                       predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")].reindex(centres.index)
    tiles = gpd.GeoDataFrame({"tile_id": grid["tile_id"], "cell_id": joined["cell_id"]},
                             geometry=grid.geometry, crs=grid.crs)
    return tiles, catalog
