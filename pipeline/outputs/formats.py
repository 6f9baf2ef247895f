"""One writer per export format; each takes an :class:`ExportBundle` and an output folder.

========  =========================  ===================================================
format    files                      what
========  =========================  ===================================================
cog       predictions.tif            Cloud-Optimized GeoTIFF in the tiles' CRS, one pixel
                                     per tile holding its cell's value; a band per
                                     ``pred_*``/``lower_*``/``upper_*`` column, NaN nodata
gpkg      predictions.gpkg           layer ``predictions``: every cell, EPSG:4326
parquet   predictions.parquet        the same as GeoParquet
csv       predictions.csv            the same without geometry; ``lon``/``lat`` of each cell
png       map.png                    the publication map (:func:`pipeline.outputs.figures.plot_map`)
html      map.html, report.html      interactive map and the self-contained run report
========  =========================  ===================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pipeline.errors import ConfigError
from pipeline.geo.rasterize import write_tile_raster
from pipeline.outputs.bundle import ExportBundle
from pipeline.outputs.report import write_report
from pipeline.outputs.webmap import write_web_map
from pipeline.outputs.figures import plot_map, save_figure

LAYER = "predictions"


def write_cog(bundle: ExportBundle, out: Path) -> list[Path]:
    path = out / "predictions.tif"
    write_tile_raster(path, bundle.tile_values(), bundle.catalog, bundle.raster_columns(),
                      bundle.pixels)
    return [path]


def write_gpkg(bundle: ExportBundle, out: Path) -> list[Path]:
    path = out / "predictions.gpkg"
    path.unlink(missing_ok=True)
    bundle.cells.to_file(path, layer=LAYER, driver="GPKG")
    return [path]


def write_parquet(bundle: ExportBundle, out: Path) -> list[Path]:
    path = out / "predictions.parquet"
    bundle.cells.to_parquet(path)
    return [path]


def write_csv(bundle: ExportBundle, out: Path) -> list[Path]:
    path = out / "predictions.csv"
    bundle.cells.drop(columns="geometry").to_csv(path, index=False)
    return [path]


def write_png(bundle: ExportBundle, out: Path) -> list[Path]:
    path = out / "map.png"
    fig = plot_map(bundle.cells, bundle.column, bundle.clusters, title=bundle.title,
                   units=bundle.units, outline=bundle.outline, cluster_column=bundle.target)
    save_figure(fig, path)
    return [path]


def write_html(bundle: ExportBundle, out: Path) -> list[Path]:
    return [write_web_map(bundle, out / "map.html"), write_report(bundle, out / "report.html")]


WRITERS: dict[str, Callable[[ExportBundle, Path], list[Path]]] = {
    "cog": write_cog, "gpkg": write_gpkg, "parquet": write_parquet, "csv": write_csv,
    "png": write_png, "html": write_html,
}
FORMATS = tuple(WRITERS)


def write_formats(bundle: ExportBundle, out: Path, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write the given formats into ``out`` (png before html, which embeds the map).

    Raises:
        ConfigError: an unknown format name (the message lists the known ones).
    """
    unknown = [f for f in formats if f not in WRITERS]
    if unknown:
        raise ConfigError(f"unknown export format {unknown[0]!r}; choose from {', '.join(FORMATS)}.")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name in sorted(set(formats), key=FORMATS.index):
        written.extend(WRITERS[name](bundle, out))
    return written
