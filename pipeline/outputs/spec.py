"""What the exports are asked for, as plain values (:class:`ExportSpec`).

Light (no geopandas), so that the config can translate its ``export``, ``name`` and
``regression`` sections into one (:func:`pipeline.config.schema.export_spec`) and the outputs
never read the config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.geo.grids import GridSpec


@dataclass(frozen=True)
class ExportSpec:
    """What the exports are asked for.

    Attributes:
        name: the run's name (titles of the map and the report).
        grid: the cells predictions are averaged into (config ``export.grid``).
        target: the outcome mapped (None: the first predicted one).
        population: a population raster weighting the cell means; None: plain means.
        region: a polygon file (a local path, or a URL kept as a string) the map is clipped to.
        units: unit label per target for colour bars and legends.
        schemes: the CV schemes of ``fit``, in config order (the first gives the clusters'
            out-of-fold predictions).
        logged: the targets the config models as log(target) (used when ``fit/metrics.json``
            does not say).
    """

    name: str
    grid: GridSpec
    target: str | None = None
    population: Path | None = None
    region: Path | str | None = None
    units: Mapping[str, str] = field(default_factory=dict)
    schemes: tuple[str, ...] = ()
    logged: tuple[str, ...] = ()
