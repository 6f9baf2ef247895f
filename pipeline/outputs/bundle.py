"""Everything an export needs, read once from a run directory.

The per-tile predictions (``predict/grid.parquet``) are averaged into the cells of
``export.grid`` (see :mod:`pipeline.geo.grids`), clipped to ``export.region`` when given. The
survey clusters carry their observed outcome, their out-of-fold prediction from ``fit`` and the
map's value (with interval) at their location, for popups and the report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.config.schema import Config
from pipeline.errors import MissingArtifactError
from pipeline.geo.grids import make_cells, value_columns
from pipeline.geo.polygons import read_polygons
from pipeline.geo.rasterize import TilePixels, tile_pixels

RASTER_PREFIXES = ("pred_", "lower_", "upper_")


def artifact(run_dir: Path, stage: str, name: str) -> Path:
    """Path of a stage's output in a run directory; MissingArtifactError naming the fix."""
    path = run_dir / stage / name
    if not path.exists():
        raise MissingArtifactError(
            f"{path} is missing: stage '{stage}' has not completed in {run_dir}. "
            f"Run `poverty-pipeline run CONFIG --until {stage}` first.")
    return path


@dataclass
class ExportBundle:
    """The inputs of every writer.

    Attributes:
        config: the run's config; run_dir: the run directory.
        grid: per-tile predictions (``predict/grid.parquet``), EPSG:4326 footprints.
        catalog: the tile catalog (``ingest/tiles.parquet``).
        cells: one row per output cell: ``cell_id``, ``n_tiles``, value columns, ``lon``/``lat``,
            geometry (EPSG:4326).
        cell_of_tile: (n_tiles,) cell id of every grid row; None where a tile is left out.
        clusters: survey clusters (points, EPSG:4326) with ``cv_predicted_<target>`` and
            ``map_<column>`` for the map's value columns at their location.
        outline: the region's outline (the ``export.region`` polygons, else the tiles' union).
        target: the outcome drawn in the maps (``export.target``, default: the first target).
    """

    config: Config
    run_dir: Path
    grid: gpd.GeoDataFrame
    catalog: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    cell_of_tile: np.ndarray
    clusters: gpd.GeoDataFrame
    outline: gpd.GeoSeries
    target: str

    @cached_property
    def pixels(self) -> TilePixels:
        """The GeoTIFF's grid and each tile's pixel (they depend on the footprints only)."""
        return tile_pixels(self.grid, self.catalog)

    @property
    def column(self) -> str:
        """The mapped column, ``pred_<target>``."""
        return f"pred_{self.target}"

    @property
    def units(self) -> str:
        """Colour-bar label: the target and its unit (``export.units``) when given."""
        unit = self.config.export.units.get(self.target)
        return f"predicted {self.target}" + (f" ({unit})" if unit else "")

    @property
    def title(self) -> str:
        return f"{self.config.name}: predicted {self.target} ({date.today().isoformat()})"

    def raster_columns(self) -> list[str]:
        """The COG's bands: every target's prediction and interval ends."""
        return [c for c in value_columns(self.cells) if c.startswith(RASTER_PREFIXES)]

    def tile_values(self) -> gpd.GeoDataFrame:
        """One row per tile holding its cell's values (NaN for tiles left out)."""
        columns = value_columns(self.cells)
        by_cell = self.cells.set_index("cell_id")[columns]
        keys = pd.Index(self.cell_of_tile)
        values = by_cell.reindex(keys).to_numpy(dtype=np.float64)
        return gpd.GeoDataFrame(pd.DataFrame(values, columns=columns),
                                geometry=self.grid.geometry.to_numpy(), crs=self.grid.crs)


def load_bundle(run_dir: Path, config: Config) -> ExportBundle:
    """Read a run's predictions, catalog and clusters, and build the output cells.

    Raises:
        MissingArtifactError: ``predict`` or ``ingest`` has not completed.
        InputDataError: unreadable region/admin/population file, or no tile in the region.
    """
    run_dir = Path(run_dir)
    grid = gpd.read_parquet(artifact(run_dir, "predict", "grid.parquet"))
    catalog = gpd.read_parquet(artifact(run_dir, "ingest", "tiles.parquet"))
    spec = config.export
    region = read_polygons(spec.region, "export.region") if spec.region else None
    tiles_crs = str(catalog["crs"].mode().iloc[0])
    cells, cell_of_tile = make_cells(grid, spec.grid, tiles_crs, spec.population, region)
    target = spec.target or config.regression.targets[0].column
    clusters = cluster_table(run_dir, config, cells, target)
    outline = region.geometry if region is not None else gpd.GeoSeries(
        [grid.geometry.union_all()], crs=grid.crs)
    return ExportBundle(config, run_dir, grid, catalog, cells, cell_of_tile, clusters, outline,
                        target)


def cluster_table(run_dir: Path, config: Config, cells: gpd.GeoDataFrame,
                  target: str) -> gpd.GeoDataFrame:
    """The survey clusters with their out-of-fold prediction and the map's value there."""
    path = run_dir / "aggregate" / "clusters.parquet"
    clusters = gpd.read_parquet(path if path.exists() else artifact(run_dir, "ingest",
                                                                     "clusters.parquet"))
    clusters = clusters.to_crs("EPSG:4326").reset_index(drop=True)
    clusters[f"cv_predicted_{target}"] = out_of_fold(run_dir, config, clusters["cluster_id"], target)
    columns = value_columns(cells)
    joined = gpd.sjoin(clusters[["geometry"]], cells[[*columns, "geometry"]], how="left",
                       predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")].reindex(clusters.index)
    for column in columns:
        clusters[f"map_{column}"] = joined[column].to_numpy(dtype=np.float64)
    return clusters


def out_of_fold(run_dir: Path, config: Config, ids: pd.Series, target: str) -> np.ndarray:
    """Each cluster's out-of-fold prediction (outcome units; first CV scheme); NaN if none."""
    path = run_dir / "fit" / "cv_predictions.csv"
    if not path.exists():
        return np.full(len(ids), np.nan)
    table = pd.read_csv(path, dtype={"cluster_id": str})
    table = table[table["target"] == target]
    schemes = [s for s in config.regression.schemes if s in set(table["scheme"])]
    if not schemes or "predicted" not in table.columns:
        return np.full(len(ids), np.nan)
    rows = table[table["scheme"] == schemes[0]].drop_duplicates("cluster_id")
    predicted = rows.set_index("cluster_id")["predicted"].reindex(ids.astype(str)).to_numpy()
    return np.exp(predicted) if target_is_logged(run_dir, config, target) else predicted


def metrics_entry(run_dir: Path, target: str) -> dict:
    """``targets.<target>`` of ``fit/metrics.json`` (empty when absent)."""
    path = run_dir / "fit" / "metrics.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text()).get("targets", {}).get(target, {})


def target_is_logged(run_dir: Path, config: Config, target: str) -> bool:
    """Whether ``fit`` modelled log(target): from ``fit/metrics.json``, else the config."""
    entry = metrics_entry(run_dir, target)
    if "log" in entry:
        return bool(entry["log"])
    return any(t.column == target and t.log for t in config.regression.targets)
