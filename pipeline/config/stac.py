"""The STAC sections: ``data.tiles.stac`` (imagery searched in a STAC API and composited per
tile) and ``data.nightlights.stac`` (one night-light raster reduced over a collection's items).

Used when ``data.tiles.source`` / ``data.nightlights.source`` is ``stac`` (see
:mod:`pipeline.tiles.stac` and :mod:`pipeline.tiles.stac_raster`). Secrets are never values
here: the config names the environment variables that hold them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from pipeline.config.base import COSMETIC, Location, Section

BBox = tuple[float, float, float, float]
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# How both STAC sections reach their API (cosmetic: they change how, not what, is acquired).
Retries = Annotated[int, Field(ge=0, le=20, json_schema_extra=COSMETIC, description=(
    "Retries of a failed API call or COG read (timeouts, resets, 429 honouring Retry-After, "
    "5xx), with exponential backoff."))]
RetryDelay = Annotated[float, Field(ge=0, le=60, json_schema_extra=COSMETIC, description=(
    "The first backoff delay; it doubles with each retry."))]
Timeout = Annotated[float, Field(gt=0, le=600, json_schema_extra=COSMETIC, description=(
    "Seconds to wait for a connection or a response."))]
ReadThreads = Annotated[int | None, Field(ge=1, le=64, json_schema_extra=COSMETIC, description=(
    "COG windows read at once (null: one per CPU core). A read mostly waits on its HTTP "
    "request, so more threads than cores pay when the server is far: with 20 ms before each "
    "answer, 400 tiles took 9.0 s with 4 threads on 2 cores, 13 s with 2 (see "
    "docs/stac.md). The values read do not change."))]
TokenEnv = Annotated[str | None, Field(description=(
    "Name of an environment variable holding a bearer token sent with every request, e.g. an "
    "Earthdata token for NASA's catalogs (the token itself never belongs in the config, and is "
    "never logged or stored)."))]
HeadersEnv = Annotated[dict[str, str], Field(description=(
    "Extra request headers, header name -> name of the environment variable holding its "
    "value, e.g. `{X-Api-Key: MY_API_KEY}`."))]


class StacAccess(Section):
    """What both STAC sections check of how they reach their API (``url``, ``token_env``,
    ``headers_env``, declared by each): an http(s) root, secrets named, never given."""

    key: ClassVar[str]
    """The section's place in the config, named in errors."""
    if TYPE_CHECKING:  # declared by each section, in its own order and words
        url: str
        headers_env: dict[str, str]

    @field_validator("token_env", check_fields=False)
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return env_name(f"{cls.key}.token_env", value)

    @model_validator(mode="after")
    def _access(self) -> StacAccess:
        check_access(self.key, self.url, self.headers_env)
        return self


class RegionConfig(Section):
    """The region to map as polygons: a boundary file, or some of its features."""

    path: Location = Field(description=(
        "Polygon file (GeoPackage, shapefile, GeoJSON, FlatGeobuf or GeoParquet; any CRS): a "
        "local file, or a URL read through GDAL (`https://`, `s3://`, `/vsicurl/...`; not "
        "GeoParquet), kept as written. Every tile that meets a polygon is acquired (not "
        "their bounding box)."))
    column: str | None = Field(None, description=(
        "Attribute that selects the features, e.g. GADM's `NAME_1` (null: every feature)."))
    values: tuple[str, ...] = Field((), description=(
        "The wanted values of `column`, compared as text, e.g. `[Kigali]`; each must match "
        "a feature."))

    @field_validator("values", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> object:
        if isinstance(value, (list, tuple)):
            return tuple(str(v) if isinstance(v, (int, float)) else v for v in value)
        return value

    @model_validator(mode="after")
    def _column_with_values(self) -> RegionConfig:
        if (self.column is None) != (not self.values):
            raise ValueError("data.tiles.stac.region: `column` and `values` go together (the "
                             "features whose column holds one of the values); got column "
                             f"{self.column!r} and values {list(self.values)}")
        return self


class StacConfig(StacAccess):
    """A STAC API search turned into cloud-masked median composites around the clusters."""

    key: ClassVar[str] = "data.tiles.stac"

    url: str = Field(description=(
        "The STAC API root, e.g. `https://planetarycomputer.microsoft.com/api/stac/v1` or "
        "`https://earth-search.aws.element84.com/v1`."))
    collection: str = Field(description=(
        "The collection id, e.g. `sentinel-2-l2a` or `landsat-c2-l2`."))
    datetime: str = Field(description=(
        "The acquisition interval, RFC 3339: `2019-01-01/2019-12-31` (open ends as `..`)."))
    assets: tuple[str, ...] = Field(min_length=3, max_length=16, description=(
        "Asset names read, in model order (RGB first), e.g. `[B04, B03, B02, B08]` on "
        "Planetary Computer's Sentinel-2 or `[red, green, blue, nir08]` for Landsat. The "
        "composites' bands follow this order; `data.tiles.bands` indexes them from 1."))
    cloud_mask: Literal["sentinel2_scl", "landsat_qa_pixel", "none"] = Field(
        "sentinel2_scl", description=(
            "How clouds and shadows are found: Sentinel-2's scene classification band "
            "(clear: classes 2, 4, 5, 6, 7, 11), Landsat Collection 2's QA_PIXEL bits (fill, "
            "dilated cloud, cirrus, cloud, shadow masked), or `none`."))
    mask_asset: str = Field("SCL", description=(
        "The asset holding the mask: `SCL` (Sentinel-2 L2A), `qa_pixel` (Landsat C2 L2 on "
        "Planetary Computer and Earth Search)."))
    max_cloud_cover: float = Field(30.0, ge=0, le=100, description=(
        "Items with a larger `eo:cloud_cover` (percent of the scene) are not used."))
    cloud_filter: Literal["server", "client"] = Field("server", description=(
        "`server`: the search asks the API to filter cloud cover (a CQL2 `filter` where the "
        "API declares the filter extension, else `query` where it declares the query "
        "extension; items are filtered here too, and an API declaring neither is filtered as "
        "with `client`); `client`: every item of the search is fetched and filtered here."))
    reach_km: float = Field(2.0, gt=0, le=50, description=(
        "Imagery is acquired for every tile meeting the square of `reach_km` on each side of "
        "a survey cluster; set `aggregate`'s radius within it."))
    region_bbox: BBox | None = Field(None, description=(
        "Also acquire the region to map: `[west, south, east, north]` in degrees (or give "
        "`region`)."))
    region: RegionConfig | None = Field(None, description=(
        "Also acquire the region to map given as polygons (a boundary file, or an admin "
        "unit of one): every grid tile that meets them. Not with `region_bbox`."))
    resolution_m: float = Field(10.0, gt=0, le=1000, description=(
        "Pixel side of the composites in metres; a tile is `window_px` (default "
        "`tile_size_px`) pixels on a side."))
    crs: str | None = Field(None, description=(
        "CRS of the composites' grid, e.g. `EPSG:32736`; null: the local UTM zone of the "
        "area's centre."))
    grid_origin: tuple[float, float] | None = Field(None, description=(
        "`[x, y]` in the grid's CRS (`crs`) that a tile corner lies on, to line the tiles up "
        "with an existing grid or raster (e.g. its top-left corner); null: the CRS origin. "
        "Tile ids count columns and rows from it."))
    resampling: Literal["nearest", "bilinear", "cubic", "average"] = Field(
        "nearest", description=(
            "How item pixels are resampled onto the grid (the mask always uses nearest)."))
    min_clear_observations: int = Field(1, ge=1, le=1000, description=(
        "Pixels with fewer clear observations have no value (nodata) in the composite."))
    min_clear_share: float = Field(0.5, ge=0, le=1, description=(
        "Tiles where a smaller share of pixels has `min_clear_observations` are rejected, "
        "with the reason `too few clear observations` in `ingest/rejected.csv`."))
    max_items: int = Field(2000, ge=1, le=100_000, description=(
        "At most this many items are fetched by the search (paged)."))
    token_env: TokenEnv = None
    headers_env: HeadersEnv = {}
    sign: Literal["none", "planetary_computer"] = Field("none", description=(
        "`planetary_computer`: sign asset URLs with Planetary Computer's SAS tokens (needs "
        "the `planetary-computer` package)."))
    retries: Retries = 5
    retry_delay_s: RetryDelay = 1.0
    timeout_s: Timeout = 60.0
    read_threads: ReadThreads = None

    @model_validator(mode="after")
    def _consistent(self) -> StacConfig:
        if self.region_bbox is not None:
            west, south, east, north = self.region_bbox
            if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
                raise ValueError("data.tiles.stac.region_bbox: [west, south, east, north] in "
                                 f"degrees with west < east, south < north; got "
                                 f"{list(self.region_bbox)}")
        if self.region_bbox is not None and self.region is not None:
            raise ValueError("data.tiles.stac: give the region to map as `region_bbox` or as "
                             "`region` (polygons), not both")
        if self.grid_origin is not None and self.crs is None:
            raise ValueError("data.tiles.stac.grid_origin: set data.tiles.stac.crs too (the "
                             "origin is given in the grid's CRS)")
        return self


def env_name(key: str, value: str | None) -> str | None:
    """``value`` when it names an environment variable (a secret's name, never the secret)."""
    if value is not None and not ENV_NAME.match(value):
        raise ValueError(f"{key}: the NAME of an environment variable (letters, digits, _), "
                         "not the token itself")
    return value


def check_access(section: str, url: str, headers_env: dict[str, str]) -> None:
    """An http(s) API root, and header values named by environment variables."""
    for header, name in headers_env.items():
        if not ENV_NAME.match(name):
            raise ValueError(f"{section}.headers_env.{header}: the NAME of an environment "
                             "variable (letters, digits, _), not its value")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{section}.url: an http(s) URL; got {url!r}")


class NightlightsStacConfig(StacAccess):
    """One night-light raster from a STAC collection: its items over the area, reduced in time."""

    key: ClassVar[str] = "data.nightlights.stac"

    url: str = Field(description=(
        "The STAC API root, e.g. `https://cmr.earthdata.nasa.gov/stac/LAADS` (NASA's CMR-STAC "
        "for Black Marble)."))
    collection: str = Field(description=(
        "The collection id, e.g. `VNP46A4_2` (Black Marble annual composites)."))
    datetime: str = Field(description=(
        "The interval whose items are reduced, RFC 3339: `2016-01-01/2016-12-31` for one "
        "year of monthly items."))
    asset: str = Field(description=(
        "The asset holding the radiance, e.g. `data` or the collection's COG asset name."))
    reducer: Literal["median", "mean", "max"] = Field("median", description=(
        "How the items' time steps become one raster, per pixel over the steps with a value "
        "(nodata left out): `median` (robust to a month of fires or clouds), `mean`, `max`."))
    max_items: int = Field(500, ge=1, le=100_000, description=(
        "At most this many items are fetched by the search (paged)."))
    token_env: TokenEnv = None
    headers_env: HeadersEnv = {}
    retries: Retries = 5
    retry_delay_s: RetryDelay = 1.0
    timeout_s: Timeout = 60.0
    read_threads: ReadThreads = None
