"""Config sections for the inputs (``data``) and the nightlight proxy labels (``labels``).

Re-exported by :mod:`pipeline.config.schema`; see the README's configuration reference for every key.
The defaults reproduce the demo: a folder of uint8 RGB tiles, a cluster table in WGS84.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, model_validator

from pipeline.config.base import RelPath, Section

Range = tuple[float, float]
DHS_OUTCOMES = ("wealth_index",)
LSMS_OUTCOMES = ("consumption_pc", "consumption_pc_day")


class TilesConfig(Section):
    """Imagery: a folder of GeoTIFF tiles, or one large raster cut into windows."""

    path: RelPath
    source: Literal["auto", "folder", "mosaic"] = "auto"
    bands: tuple[int, ...] = Field((1, 2, 3), min_length=3, max_length=16)
    scale: Range | tuple[Range, ...] | Literal["percentile"] | None = None
    stretch_percentiles: Range = (2.0, 98.0)
    stretch_sample_tiles: int = Field(256, ge=1, le=100_000)
    tile_size_px: int = Field(64, ge=16, le=1024)
    window_px: int | None = Field(None, ge=8, le=8192)
    overlap_px: int = Field(0, ge=0)
    min_valid_share: float = Field(0.5, ge=0.0, le=1.0)
    crs: str | None = None
    year_pattern: str | None = None
    date_tags: tuple[str, ...] = ("ACQUISITION_DATE", "DATE_ACQUIRED", "acquisition_date")

    @model_validator(mode="after")
    def _consistent(self) -> TilesConfig:
        if min(self.bands) < 1:
            raise ValueError(f"data.tiles.bands: band indexes start at 1; got {list(self.bands)}")
        for low, high in _ranges(self.scale):
            if not high > low:
                raise ValueError(f"data.tiles.scale: each range is [low, high] with high > low; "
                                 f"got [{low}, {high}]")
        if isinstance(self.scale, tuple) and isinstance(self.scale[0], tuple) \
                and len(self.scale) != len(self.bands):
            raise ValueError(f"data.tiles.scale: {len(self.scale)} per-band ranges for "
                             f"{len(self.bands)} bands in data.tiles.bands; give one per band")
        low, high = self.stretch_percentiles
        if not 0 <= low < high <= 100:
            raise ValueError("data.tiles.stretch_percentiles: [low, high] with 0 <= low < high "
                             f"<= 100; got [{low}, {high}]")
        if self.overlap_px >= (self.window_px or self.tile_size_px):
            raise ValueError(f"data.tiles.overlap_px: must be smaller than the window "
                             f"({self.window_px or self.tile_size_px} px); got {self.overlap_px}")
        _check_pattern("data.tiles.year_pattern", self.year_pattern)
        return self


def _ranges(scale: object) -> list[Range]:
    if not isinstance(scale, tuple):
        return []
    return list(scale) if isinstance(scale[0], tuple) else [scale]  # type: ignore[list-item]


def _check_pattern(key: str, pattern: str | None) -> None:
    if pattern is None:
        return
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{key}: not a valid regular expression ({exc}); got {pattern!r}") from None


class NightlightsConfig(Section):
    """One nightlight raster (VIIRS radiance or DMSP digital numbers), any CRS."""

    path: RelPath
    band: int = Field(1, ge=1)
    year: int | None = Field(None, ge=1990, le=2100)


class DhsColumns(Section):
    """Column names of a DHS household recode (HR) and its GPS dataset (GE)."""

    cluster: str = "hv001"
    household: str = "hhid"
    weight: str = "hv005"
    wealth: str = "hv271"
    wealth_divisor: float = Field(100_000.0, gt=0)
    year: str = "hv007"
    gps_cluster: str = "DHSCLUST"
    gps_id: str = "DHSID"
    gps_lat: str = "LATNUM"
    gps_lon: str = "LONGNUM"
    gps_urban: str = "URBAN_RURA"
    gps_country: str = "DHSCC"
    gps_year: str = "DHSYEAR"


class LsmsColumns(Section):
    """Column names of an LSMS consumption aggregate and its household geovariables file.

    Defaults follow Malawi's IHS consumption aggregate and household geovariables; other
    LSMS-ISA surveys name them differently (see their codebooks).
    """

    household: str = "case_id"
    cluster: str = "ea_id"
    consumption: str = "rexpagg"
    household_size: str = "hhsize"
    weight: str = "hh_wgt"
    lat: str = "lat_modified"
    lon: str = "lon_modified"
    urban: str | None = "urban"
    urban_value: int | str = 1
    period_days: float = Field(365.0, gt=0)
    country: str | None = None
    year: int | None = Field(None, ge=1900, le=2100)


class SurveyConfig(Section):
    """Survey input: a cluster table, or household files turned into one by a recipe."""

    path: RelPath
    recipe: Literal["clusters", "dhs", "lsms"] = "clusters"
    locations: RelPath | None = None
    id: str | None = "cluster_id"
    lat: str = "lat"
    lon: str = "lon"
    crs: str | None = None
    outcomes: tuple[str, ...] = Field(min_length=1)
    urban: str | None = None
    country: str | None = None
    year: str | None = None
    weight: str | None = None
    households: str | None = None
    min_households: int = Field(1, ge=1)
    reach_km: float | None = Field(None, gt=0, le=100)
    dhs: DhsColumns = DhsColumns()
    lsms: LsmsColumns = LsmsColumns()

    @model_validator(mode="after")
    def _recipe_fits(self) -> SurveyConfig:
        if self.recipe == "clusters":
            return self
        produced = DHS_OUTCOMES if self.recipe == "dhs" else LSMS_OUTCOMES
        extra = [o for o in self.outcomes if o not in produced]
        if extra:
            raise ValueError(f"data.survey.outcomes: the {self.recipe} recipe produces "
                             f"{list(produced)}; got {extra}")
        mapped = [k for k in ("urban", "country", "year", "weight", "households")
                  if getattr(self, k) is not None]
        if mapped:
            raise ValueError(f"data.survey.{mapped[0]}: column mapping applies to recipe: "
                             f"clusters; map {self.recipe} columns in data.survey.{self.recipe}")
        if self.recipe == "dhs" and self.locations is None:
            raise ValueError("data.survey.locations: the dhs recipe needs the GPS dataset "
                             "(e.g. the GE shapefile) that gives each cluster's coordinates")
        return self


class DataConfig(Section):
    tiles: TilesConfig
    nightlights: NightlightsConfig
    survey: SurveyConfig
    shard_size: int = Field(512, ge=1, le=100_000)
    manifests: tuple[RelPath, ...] = ()
    root: RelPath | None = None
    root_only: bool = False

    @model_validator(mode="after")
    def _paths_inside_root(self, info: ValidationInfo) -> DataConfig:
        """With ``root_only``, every input path (symlinks followed) must lie below ``root``
        (default: the config file's folder), so ``..`` or a link cannot reach other files."""
        base = self.root or (info.context or {}).get("base_dir")
        if not self.root_only or base is None:
            return self
        root = Path(os.path.realpath(base))
        for key, path in self._input_paths():
            if not Path(os.path.realpath(path)).is_relative_to(root):
                raise ValueError(f"data.{key}: {path} lies outside the data root {root} "
                                 "(data.root_only: true). Move the file below the root or "
                                 "change data.root.")
        return self

    def _input_paths(self) -> list[tuple[str, Path]]:
        paths = [("tiles.path", self.tiles.path), ("nightlights.path", self.nightlights.path),
                 ("survey.path", self.survey.path)]
        if self.survey.locations is not None:
            paths.append(("survey.locations", self.survey.locations))
        return paths + [(f"manifests[{i}]", m) for i, m in enumerate(self.manifests)]


class LabelsConfig(Section):
    method: Literal["gmm", "quantile", "fixed"] = "gmm"
    n_classes: int = Field(3, ge=2, le=5)
    thresholds: tuple[float, ...] | None = None
    balance: bool = False
    max_dark_ratio: float = Field(1.0, gt=0)
    max_year_gap: int = Field(2, ge=0)
    context_km: float | None = Field(None, gt=0, le=50)

    @model_validator(mode="after")
    def _thresholds_fit(self) -> LabelsConfig:
        if self.method != "fixed":
            if self.thresholds is not None:
                raise ValueError("labels.thresholds: only used with labels.method: fixed")
            return self
        t = self.thresholds
        if t is None or len(t) != self.n_classes - 1:
            raise ValueError(f"labels.thresholds: method fixed needs n_classes - 1 = "
                             f"{self.n_classes - 1} ascending radiance values; got {t}")
        if any(b <= a for a, b in zip(t, t[1:])):
            raise ValueError(f"labels.thresholds: must be strictly ascending; got {list(t)}")
        return self
