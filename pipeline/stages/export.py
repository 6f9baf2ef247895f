"""export: the map and the report as files people use.

The per-tile predictions are averaged into the cells of ``export.grid`` (the tiles themselves,
squares of N km, quadkeys, H3 cells or admin polygons; weighted by ``export.population`` when
given), over ``export.region`` when given (see :mod:`pipeline.geo.grids`).

Inputs: ``predict/grid.parquet``; ``ingest/tiles.parquet`` (CRS and tile grid),
``ingest/rejected.csv``; ``aggregate/clusters.parquet`` (``ingest/clusters.parquet`` if absent);
``fit/metrics.json``, ``fit/cv_predictions.csv``, ``fit/*.png``; ``train/history.csv``,
``train/metrics.json``; ``manifest.json`` and ``config.yaml`` (the report's stage timings and
config, as they are when export runs).
Outputs (``export/``):
    predictions.tif      Cloud-Optimized GeoTIFF in the tiles' CRS, one pixel per tile with its
                         cell's value (pixel size = the tiles' stride; tiles that share a pixel
                         are averaged and counted as ``tiles_sharing_pixels``); bands
                         ``pred_<target>`` (+ ``lower_``/``upper_`` interval ends when ``fit``
                         gives them), NaN nodata.
    predictions.gpkg     layer ``predictions``: one row per cell (cell_id, n_tiles, values,
                         lon/lat), EPSG:4326.
    predictions.parquet  the same cells as GeoParquet.
    predictions.csv      the same cells without geometry, with lon/lat.
    map.png              the ``export.target`` map: colour bar with units, graticule, scale bar,
                         region outline, survey clusters, title with run name and date.
    map.html             interactive map (Leaflet): cells, cluster popups, outline, legend.
    report.html          self-contained run report (summary, training, evaluation, map, config).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline.bundles.format import CARD_JSON, open_bundle
from pipeline.config.schema import Config, export_spec
from pipeline.engine.manifest import package_version
from pipeline.errors import StageError
from pipeline.geo.cog import cog_problems
from pipeline.outputs.bundle import ExportFiles, load_bundle
from pipeline.outputs.formats import write_formats
from pipeline.outputs.spec import ExportSpec
from pipeline.engine.context import StageContext
from pipeline.engine.stage import Stage


def input_files(config: Config) -> list[Path]:
    spec = config.export
    return [p for p in (spec.population, spec.region, spec.grid.path) if p is not None]


def run(ctx: StageContext) -> dict[str, Any]:
    config = ctx.config
    return write_exports(ctx, export_spec(config.name, config.export, config.regression))


def run_prediction(ctx: StageContext) -> dict[str, Any]:
    """A prediction run's export: its report shows the bundle's model card."""
    bundle = open_bundle(ctx.config.bundle, package_version())
    spec = export_spec(ctx.config.name, ctx.config.export, None)
    return write_exports(ctx, spec, bundle.file(CARD_JSON))


def write_exports(ctx: StageContext, spec: ExportSpec,
                  model_card: Path | None = None) -> dict[str, Any]:
    """Every format into ``ctx.out``; the counts for the manifest."""
    rundir = ctx.run

    def artifact(stage: str, name: str | None = None, required: bool = True) -> Path | None:
        # a prediction run's export has no survey, train or fit stage to read
        return ctx.artifact(stage, name, required) if stage in ctx.upstream else None

    files = ExportFiles.find(artifact, rundir.path, rundir.manifest_file,
                             rundir.config_file.read_text(encoding="utf-8"), model_card)
    bundle = load_bundle(files, spec)
    write_formats(bundle, ctx.out)
    problems = cog_problems(ctx.out / "predictions.tif")
    if problems:
        raise StageError(f"predictions.tif is not a valid Cloud-Optimized GeoTIFF: {'; '.join(problems)}")
    left_out = int(sum(c is None for c in bundle.cell_of_tile))
    return {"cells": len(bundle.cells), "grid": ctx.config.export.grid.kind,
            "bands": len(bundle.raster_columns()), "tiles_outside_cells": left_out,
            "tiles_sharing_pixels": bundle.pixels.shared}


STAGE = Stage(
    name="export",
    version=3,
    inputs=("ingest", "label", "train", "aggregate", "fit", "predict"),  # label: nightlights.json
    outputs=("predictions.tif", "predictions.gpkg", "predictions.parquet", "predictions.csv",
             "map.png", "map.html", "report.html"),
    # name: the map's title and the report's; regression: the default target, which targets
    # are logged and the first CV scheme (the clusters' out-of-fold predictions)
    config=("export", "name", "regression.targets", "regression.schemes"),
    run=run,
    input_files=input_files,
)

PREDICTION_STAGE = replace(
    STAGE,
    version=1,
    inputs=("ingest", "predict"),
    # a prediction run has no survey, training or fit: its targets are the grid's
    config=("export", "name", "bundle"),
    run=run_prediction,
)
"""The export of a prediction run (``bundle:``): the same files, the bundle's model card in
the report, the out-of-distribution share on its face."""
