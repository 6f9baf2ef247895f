"""Everything an export needs, read once from a run's files (:class:`ExportFiles`).

The per-tile predictions (``predict/grid.parquet``) are averaged into the cells of
``export.grid`` (see :mod:`pipeline.geo.grids`), clipped to ``export.region`` when given. The
survey clusters carry their observed outcome, their out-of-fold prediction from ``fit`` and the
map's value (with interval) at their location, for popups and the report.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Protocol, cast

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.geo.grids import make_cells, value_columns
from pipeline.geo.polygons import read_polygons
from pipeline.geo.rasterize import TilePixels, tile_pixels
from pipeline.outputs.spec import ExportSpec

RASTER_PREFIXES = ("pred_", "lower_", "upper_")


class FindArtifact(Protocol):
    """Finds a stage's output in a run directory (``RunDir.artifact``'s signature): the path, or
    None when absent and not ``required`` (MissingArtifactError when ``required``)."""

    def __call__(self, stage: str, name: str | None = None,
                 required: bool = True) -> Path | None: ...


def clusters_file(artifact: FindArtifact) -> Path | None:
    """The survey clusters: ``aggregate``'s (with n_tiles, usable, ...), else ``ingest``'s;
    None for a prediction run, which has no survey."""
    found = artifact("aggregate", "clusters.parquet", required=False)
    return found or artifact("ingest", "clusters.parquet", required=False)


@dataclass(frozen=True)
class FitFiles:
    """``fit``'s results, where present: ``cv_predictions.csv`` and ``metrics.json``."""

    cv_predictions: Path | None = None
    metrics: Path | None = None

    @classmethod
    def find(cls, artifact: FindArtifact) -> FitFiles:
        return cls(artifact("fit", "cv_predictions.csv", required=False),
                   artifact("fit", "metrics.json", required=False))


@dataclass(frozen=True)
class ExportFiles:
    """The run's files the exports read, found by the caller.

    The caller (the ``export`` stage, the notebook API) finds them through the run directory's
    catalog (:class:`pipeline.engine.rundir.RunDir`), so this package never joins a run
    directory's layout; :meth:`find` names which outputs of which stages they are.

    Attributes:
        run_dir: the run directory (shown in the report).
        grid: ``predict/grid.parquet``; catalog: ``ingest/tiles.parquet``.
        clusters: ``aggregate/clusters.parquet``, else ``ingest/clusters.parquet``.
        fit: ``fit``'s results.
        fit_dir: ``fit/`` (its evaluation plots ``*.png``).
        rejected: ``ingest/rejected.csv``.
        train_history, train_metrics: ``train/history.csv`` and ``train/metrics.json``.
        manifest: the run's ``manifest.json``.
        config_text: the config shown in the report, as YAML.
        model_card: a prediction run's bundle ``model_card.json``.
        acquisition, nightlights_acquisition: a STAC run's ``ingest/acquisition.json`` and
            ``label/nightlights.json``.
        Optional files (clusters too: a prediction run has none) are None when absent.
    """

    run_dir: Path
    grid: Path
    catalog: Path
    clusters: Path | None
    fit: FitFiles = FitFiles()
    fit_dir: Path | None = None
    rejected: Path | None = None
    train_history: Path | None = None
    train_metrics: Path | None = None
    manifest: Path | None = None
    config_text: str = ""
    model_card: Path | None = None
    acquisition: Path | None = None
    nightlights_acquisition: Path | None = None

    @classmethod
    def find(cls, artifact: FindArtifact, run_dir: Path, manifest: Path | None,
             config_text: str, model_card: Path | None = None) -> ExportFiles:
        """The files, looked up with ``artifact`` (MissingArtifactError for a required one)."""
        required = cast(Callable[[str, str], Path], artifact)  # never None: raises instead
        grid, catalog = required("predict", "grid.parquet"), required("ingest", "tiles.parquet")
        return cls(run_dir, grid, catalog, clusters_file(artifact),
                   fit=FitFiles.find(artifact),
                   fit_dir=artifact("fit", required=False),
                   rejected=artifact("ingest", "rejected.csv", required=False),
                   train_history=artifact("train", "history.csv", required=False),
                   train_metrics=artifact("train", "metrics.json", required=False),
                   manifest=manifest if manifest is not None and manifest.exists() else None,
                   config_text=config_text, model_card=model_card,
                   acquisition=artifact("ingest", "acquisition.json", required=False),
                   nightlights_acquisition=artifact("label", "nightlights.json",
                                                    required=False))


@dataclass
class ExportBundle:
    """The inputs of every writer.

    Attributes:
        spec: what the exports are asked for (from the config's ``export``, ``name`` and
            ``regression``).
        files: the run's files the exports read.
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

    spec: ExportSpec
    files: ExportFiles
    grid: gpd.GeoDataFrame
    catalog: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    cell_of_tile: np.ndarray
    clusters: gpd.GeoDataFrame
    outline: gpd.GeoSeries
    target: str

    @property
    def run_dir(self) -> Path:
        return self.files.run_dir

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
        unit = self.spec.units.get(self.target)
        return f"predicted {self.target}" + (f" ({unit})" if unit else "")

    @property
    def title(self) -> str:
        return f"{self.spec.name}: predicted {self.target} ({date.today().isoformat()})"

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


def load_bundle(files: ExportFiles, spec: ExportSpec) -> ExportBundle:
    """Read a run's predictions, catalog and clusters, and build the output cells.

    Raises:
        InputDataError: unreadable region/admin/population file, or no tile in the region.
    """
    grid = gpd.read_parquet(files.grid)
    catalog = gpd.read_parquet(files.catalog)
    region = read_polygons(spec.region, "export.region") if spec.region else None
    tiles_crs = str(catalog["crs"].mode().iloc[0])
    cells, cell_of_tile = make_cells(grid, spec.grid, tiles_crs, spec.population, region)
    target = spec.target or first_target(grid)
    clusters = cluster_table(files, spec, cells, target)
    outline = region.geometry if region is not None else gpd.GeoSeries(
        [grid.geometry.union_all()], crs=grid.crs)
    return ExportBundle(spec, files, grid, catalog, cells, cell_of_tile, clusters, outline,
                        target)


def first_target(grid: pd.DataFrame) -> str:
    """The first predicted outcome of a grid (``pred_<target>`` columns follow the targets'
    order), the map's default target."""
    return next(c.removeprefix("pred_") for c in grid.columns if c.startswith("pred_"))


def cluster_table(files: ExportFiles, spec: ExportSpec, cells: gpd.GeoDataFrame,
                  target: str) -> gpd.GeoDataFrame:
    """The survey clusters with their out-of-fold prediction and the map's value there (no
    rows for a prediction run)."""
    if files.clusters is None:
        return gpd.GeoDataFrame({"cluster_id": pd.Series([], dtype=str)},
                                geometry=gpd.GeoSeries([], crs="EPSG:4326"))
    clusters = gpd.read_parquet(files.clusters).to_crs("EPSG:4326").reset_index(drop=True)
    clusters[f"cv_predicted_{target}"] = out_of_fold(files.fit, spec, clusters["cluster_id"],
                                                     target)
    columns = value_columns(cells)
    joined = gpd.sjoin(clusters[["geometry"]], cells[[*columns, "geometry"]], how="left",
                       predicate="within")
    joined = joined[~joined.index.duplicated(keep="first")].reindex(clusters.index)
    for column in columns:
        clusters[f"map_{column}"] = joined[column].to_numpy(dtype=np.float64)
    return clusters


def out_of_fold(files: FitFiles, spec: ExportSpec, ids: pd.Series, target: str) -> np.ndarray:
    """Each cluster's out-of-fold prediction (outcome units; first CV scheme); NaN if none."""
    if files.cv_predictions is None:
        return np.full(len(ids), np.nan)
    table = pd.read_csv(files.cv_predictions, dtype={"cluster_id": str})
    table = table[table["target"] == target]
    schemes = [s for s in spec.schemes if s in set(table["scheme"])]
    if not schemes or "predicted" not in table.columns:
        return np.full(len(ids), np.nan)
    rows = table[table["scheme"] == schemes[0]].drop_duplicates("cluster_id")
    predicted = rows.set_index("cluster_id")["predicted"].reindex(ids.astype(str)).to_numpy()
    return np.exp(predicted) if target_is_logged(files, spec, target) else predicted


def metrics_entry(files: FitFiles, target: str) -> dict:
    """``targets.<target>`` of ``fit/metrics.json`` (empty when absent)."""
    if files.metrics is None:
        return {}
    return json.loads(files.metrics.read_text()).get("targets", {}).get(target, {})


def target_is_logged(files: FitFiles, spec: ExportSpec, target: str) -> bool:
    """Whether ``fit`` modelled log(target): from ``fit/metrics.json``, else the config's."""
    entry = metrics_entry(files, target)
    if "log" in entry:
        return bool(entry["log"])
    return target in spec.logged
