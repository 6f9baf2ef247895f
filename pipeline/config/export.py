"""The ``export`` section: the target mapped, the cells, the region and the units of the map."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pyproj import CRS
from pyproj.exceptions import CRSError

from pipeline.config.base import Location, RelPath, Section


class GridConfig(Section):
    """The cells the per-tile predictions are averaged into (``export.grid``).

    A tile belongs to the cell that holds its centre, so pick cells larger than the tiles.
    """

    kind: Literal["tiles", "regular", "quadkey", "h3", "admin"] = Field("tiles", description=(
        "`tiles`: every tile is its own cell. `regular`: squares of `cell_km` in `crs`, "
        "aligned to that CRS's origin. `quadkey`: Web Mercator tiles at `zoom`. `h3`: H3 "
        "cells at `resolution`. `admin`: the polygons of the file at `path`, named by column "
        "`id`."))
    cell_km: float = Field(5.0, gt=0, le=1000, description=(
        "`regular`: cell side in kilometres."))
    crs: str | None = Field(None, description=(
        "`regular`: a projected CRS in metres, e.g. `EPSG:32736` (default: the tiles' most "
        "common CRS)."))
    zoom: int = Field(12, ge=1, le=23, description="`quadkey`: zoom level.")
    resolution: int = Field(7, ge=0, le=15, description=(
        "`h3`: resolution (7 is about 5.2 km² per cell, 8 about 0.74 km²)."))
    path: Location | None = Field(None, description=(
        "`admin`: polygon file (GeoPackage, shapefile, GeoJSON or GeoParquet; any CRS), local "
        "or a URL read through GDAL (`https://`, `s3://`, `/vsicurl/...`; not GeoParquet). Rows "
        "that share an id (a district stored as several polygons) are dissolved into one cell; "
        "polygons without tiles are kept with `n_tiles` 0."))
    id: str | None = Field(None, description=(
        "`admin`: the id column of `path` (default: the row number)."))

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            crs = CRS.from_user_input(value)
        except CRSError as exc:
            raise ValueError(f"not a CRS pyproj knows ({exc}); use e.g. 'EPSG:32736'") from None
        if crs.is_geographic:
            raise ValueError("a regular grid in km needs a projected CRS (metres), "
                             "e.g. a UTM zone such as 'EPSG:32736'")
        return value

    @model_validator(mode="after")
    def _admin_needs_path(self) -> GridConfig:
        if self.kind == "admin" and self.path is None:
            raise ValueError("export.grid.path: kind 'admin' needs the path of a polygon file "
                             "(GeoPackage, shapefile, GeoJSON or GeoParquet)")
        return self


class ExportConfig(Section):
    """What ``export`` writes: which target is mapped, into which cells, over which region."""

    target: str | None = Field(None, description=(
        "The outcome drawn in `map.png` and `map.html` (default: the first regression "
        "target)."))
    grid: GridConfig = Field(GridConfig(), description=(
        "The cells the predictions are averaged into."))
    population: RelPath | None = Field(None, description=(
        "Population raster (e.g. WorldPop, any CRS): cell means are weighted by each tile's "
        "mean population; plain means when null. A cell whose tiles all have zero or no "
        "population gets the plain mean."))
    region: Location | None = Field(None, description=(
        "Polygon file of the region to map (local, or a URL as for `grid.path`); tiles whose "
        "centre is outside are left out, and its outline is drawn (default: every tile, "
        "outlined by their union)."))
    units: dict[str, str] = Field(default_factory=dict, description=(
        "Unit label per target for colour bars and legends, e.g. "
        "`{consumption_pc_day: \"USD/day (2011 PPP)\"}`."))
