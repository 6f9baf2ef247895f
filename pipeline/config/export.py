"""The ``export`` config section: the output grid, population weights, region, map units.

Kept apart from :mod:`pipeline.config.schema` (which re-exports :class:`ExportConfig`) so that the
section reads as one piece.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pyproj import CRS
from pyproj.exceptions import CRSError

from pipeline.config.base import RelPath, Section


class GridConfig(Section):
    """The cells the per-tile predictions are averaged into (``export.grid``).

    ``tiles``: every tile is its own cell. ``regular``: squares of ``cell_km`` in ``crs``
    (default: the tiles' most common CRS), aligned to that CRS's origin. ``quadkey``: Web
    Mercator tiles at ``zoom``. ``h3``: H3 cells at ``resolution``. ``admin``: the polygons of
    the file at ``path`` (GeoPackage, shapefile, GeoJSON, GeoParquet), named by column ``id``.
    A tile belongs to the cell that holds its centre.
    """

    kind: Literal["tiles", "regular", "quadkey", "h3", "admin"] = "tiles"
    cell_km: float = Field(5.0, gt=0, le=1000)
    crs: str | None = None
    zoom: int = Field(12, ge=1, le=23)
    resolution: int = Field(7, ge=0, le=15)
    path: RelPath | None = None
    id: str | None = None

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

    target: str | None = None
    grid: GridConfig = GridConfig()
    population: RelPath | None = None
    region: RelPath | None = None
    units: dict[str, str] = Field(default_factory=dict)
