"""The ``data`` section: the imagery tiles, the nightlight raster, the survey, how they are read.

The defaults reproduce the demo: a folder of uint8 RGB tiles, a cluster table in WGS84. The survey
subsection lives in :mod:`pipeline.config.survey`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, model_validator

from pipeline.config.base import Location, RelPath, Section, is_url
from pipeline.config.stac import NightlightsStacConfig, StacConfig
from pipeline.config.survey import SurveyConfig

Range = tuple[float, float]


class TilesConfig(Section):
    """Imagery: a folder of GeoTIFF tiles, one large raster cut into windows, or a STAC search."""

    path: RelPath | None = Field(None, description=(
        "A folder of GeoTIFF/COG tiles, searched recursively for `*.tif`/`*.tiff` (any CRS; "
        "tiles of several CRSs may mix), or one large raster (`.tif`/`.tiff`/`.vrt` of a mosaic "
        "or composite) that is cut into windows and read window by window, never whole. "
        "Required unless `source` is `stac`."))
    source: Literal["auto", "folder", "mosaic", "stac"] = Field("auto", description=(
        "`auto`: a folder is a folder of tiles, a file is a mosaic. `folder` or `mosaic`: say "
        "what you expect, and a mismatch is an error. `stac`: cloud-masked composites of a "
        "STAC API search around the survey clusters (see `stac`), written to `ingest/stac/`."))
    stac: StacConfig | None = Field(None, description=(
        "The STAC search and composites, when `source` is `stac` (docs/stac.md)."))
    bands: tuple[int, ...] = Field((1, 2, 3), min_length=3, max_length=16, description=(
        "1-based band indexes to use, in model order (RGB first), e.g. `[4, 3, 2]` for RGB from "
        "a Sentinel-2 or Landsat stack. Extra bands reach the model as extra input channels."))
    scale: Range | tuple[Range, ...] | Literal["percentile"] | None = Field(None, description=(
        "How pixels become 0..255. Null keeps uint8 as it is (uint16 or float tiles without a "
        "scale are rejected); `[low, high]` maps every band linearly (clipped); "
        "`[[low, high], ...]` gives one range per band; `percentile` is a per-band stretch "
        "between `stretch_percentiles`, computed once from the source (a sample of "
        "`stretch_sample_tiles` tiles of a folder, or a 1024 px or smaller overview of a "
        "mosaic) and stored in `ingest/scaling.json`."))
    stretch_percentiles: Range = Field((2.0, 98.0), description=(
        "Low and high percentile (0 to 100) of the `percentile` stretch."))
    stretch_sample_tiles: int = Field(256, ge=1, le=100_000, description=(
        "Tiles of a folder read (evenly spaced) to compute the `percentile` stretch."))
    tile_size_px: int = Field(64, ge=16, le=1024, description=(
        "Side in pixels the tiles are resampled (bilinear) to in the tile cache."))
    window_px: int | None = Field(None, ge=8, le=8192, description=(
        "Mosaic and stac: window side in the source's pixels (default: `tile_size_px`); the "
        "ground size is `window_px` times the resolution, e.g. 100 px at 10 m is 1 km. The "
        "last row and column of a mosaic's windows are shifted inward so every window lies "
        "inside the raster."))
    overlap_px: int = Field(0, ge=0, description=(
        "Mosaic only: pixels shared by neighbouring windows; smaller than the window."))
    min_valid_share: float = Field(0.5, ge=0.0, le=1.0, description=(
        "Tiles or windows with a smaller share (0 to 1) of non-nodata pixels are skipped, each "
        "with its reason in `ingest/rejected.csv`, and counted (`tiles_low_valid_share`)."))
    crs: str | None = Field(None, description=(
        "CRS for tiles whose files have none, e.g. `EPSG:32736` (otherwise such tiles are "
        "rejected)."))
    year_pattern: str | None = Field(None, description=(
        "Regular expression searched in the file name when no tag gives a date; its first "
        "group (or the whole match) is `YYYY`, `YYYYMMDD` or `YYYY-MM-DD`, e.g. `'_(\\d{8})_'`."))
    date_tags: tuple[str, ...] = Field(
        ("ACQUISITION_DATE", "DATE_ACQUIRED", "acquisition_date"), description=(
            "GeoTIFF tags read, in this order, for a tile's acquisition date."))

    @model_validator(mode="after")
    def _consistent(self) -> TilesConfig:
        if self.source == "stac" and self.stac is None:
            raise ValueError("data.tiles.stac: required when data.tiles.source is stac (the "
                             "API url, collection, datetime and assets)")
        if self.source != "stac" and self.path is None:
            raise ValueError("data.tiles.path: required (a folder of tiles or one raster), "
                             "unless data.tiles.source is stac")
        if self.stac is not None and max(self.bands) > len(self.stac.assets):
            raise ValueError(f"data.tiles.bands {list(self.bands)}: the STAC composites have "
                             f"{len(self.stac.assets)} bands (data.tiles.stac.assets)")
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
    """One nightlight raster (VIIRS radiance or DMSP digital numbers), any CRS: a file, a URL, or
    acquired from a STAC collection."""

    source: Literal["file", "stac"] = Field("file", description=(
        "`file`: the raster at `path` (local or a URL). `stac`: the items of a STAC "
        "collection over the tiles' area, reduced in time (see `stac`); `label` acquires it "
        "once into `label/nightlights.tif` and every later use reads that file."))
    path: Location | None = Field(None, description=(
        "The nightlight raster (VIIRS radiance, or DMSP-OLS digital numbers 0 to 63), any CRS, "
        "covering the tiles: a local file, or a URL of a COG read through GDAL (`https://`, "
        "`s3://`, `/vsicurl/...`, `/vsis3/...`), kept as written. Required unless `source` is "
        "`stac`."))
    stac: NightlightsStacConfig | None = Field(None, description=(
        "The STAC search and reducer, when `source` is `stac` (docs/stac.md)."))
    band: int = Field(1, ge=1, description="1-based band of the raster to read.")
    year: int | None = Field(None, ge=1990, le=2100, description=(
        "The composite's year. When null, a `year` (or `ACQUISITION_DATE`) tag, else a 4-digit "
        "year in the file name is used (for the temporal-alignment check); `TIFFTAG_DATETIME`, "
        "the time the file was written, is never used. A `stac` raster is tagged with the "
        "median year of its items."))

    @model_validator(mode="after")
    def _consistent(self) -> NightlightsConfig:
        if self.source == "file" and self.path is None:
            raise ValueError("data.nightlights.path: required (a raster file or URL), unless "
                             "data.nightlights.source is stac")
        if self.source == "stac" and self.stac is None:
            raise ValueError("data.nightlights.stac: required when data.nightlights.source is "
                             "stac (the API url, collection, datetime and asset)")
        if self.source == "stac" and self.path is not None:
            raise ValueError("data.nightlights.path: leave it out when data.nightlights.source "
                             "is stac (the raster is acquired into label/nightlights.tif)")
        return self


class DataConfig(Section):
    """The inputs: imagery tiles, one nightlight raster, the survey, and how work is split."""

    tiles: TilesConfig = Field(description="The imagery.")
    nightlights: NightlightsConfig | None = Field(None, description=(
        "The nightlight raster. Required for a training run; a prediction run (`bundle:`) "
        "reads none."))
    survey: SurveyConfig | None = Field(None, description=(
        "The survey clusters and their outcomes. Required for a training run; a prediction "
        "run (`bundle:`) reads none."))
    shard_size: int = Field(512, ge=1, le=100_000, description=(
        "Tiles per shard: one tile-cache file, and the unit of per-tile work (retries, resume, "
        "one Dask task). Memory of the per-tile stages grows with it."))
    manifests: tuple[RelPath, ...] = Field((), description=(
        "Data manifests (docs/data.md) verified (exists, sha256, opens, CRS) before ingest "
        "reads anything; a failure stops the run with exit code 3."))
    root: RelPath | None = Field(None, description=(
        "The folder that `root_only` keeps every input path inside (default: the config "
        "file's folder)."))
    root_only: bool = Field(False, description=(
        "When true, a data path (tiles, nightlights, survey, locations, manifests) that leads "
        "outside `root` through `..` or a symlink is a config error (exit code 2)."))

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
        paths = [("tiles.path", self.tiles.path)] if self.tiles.path is not None else []
        if self.nightlights is not None and self.nightlights.path is not None \
                and not is_url(self.nightlights.path):
            paths.append(("nightlights.path", self.nightlights.path))
        if self.survey is not None and not is_url(self.survey.path):
            paths.append(("survey.path", self.survey.path))
        if self.survey is not None and self.survey.locations is not None:
            paths.append(("survey.locations", self.survey.locations))
        return paths + [(f"manifests[{i}]", m) for i, m in enumerate(self.manifests)]
