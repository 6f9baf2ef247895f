"""The ``data.survey`` section: the survey table, or household files and a recipe that builds it.

The defaults read a cluster table in WGS84 (``recipe: clusters``); the ``dhs`` and ``lsms``
recipes name the columns of the files DHS and the LSMS distribute.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipeline.config.base import Location, RelPath, Section
from pipeline.survey.columns import DHS, DHS_OUTCOMES, LSMS, LSMS_OUTCOMES


class DhsColumns(Section):
    """Column names of a DHS household recode (HR) and its GPS dataset (GE).

    The defaults are DHS's own names (from :mod:`pipeline.survey.columns`); change them only for
    a recode that renames them.
    """

    cluster: str = Field(DHS.cluster, description="Household recode: the cluster number.")
    household: str = Field(DHS.household, description="Household recode: the household id.")
    weight: str = Field(DHS.weight, description=(
        "Household recode: the household sample weight (DHS stores it times 1,000,000; it is "
        "divided by that)."))
    wealth: str = Field(DHS.wealth, description=(
        "Household recode: the wealth index factor score, divided by `wealth_divisor`."))
    wealth_divisor: float = Field(DHS.wealth_divisor, gt=0, description=(
        "What the `wealth` column is divided by (DHS stores the score times 100,000)."))
    year: str = Field(DHS.year, description="Household recode: the interview year.")
    gps_cluster: str = Field(DHS.gps_cluster, description=(
        "GPS dataset: the cluster number, joined to the recode's `cluster`."))
    gps_id: str = Field(DHS.gps_id, description=(
        "GPS dataset: the cluster id used as `cluster_id`."))
    gps_lat: str = Field(DHS.gps_lat, description="GPS dataset: latitude (WGS84 degrees).")
    gps_lon: str = Field(DHS.gps_lon, description="GPS dataset: longitude (WGS84 degrees).")
    gps_urban: str = Field(DHS.gps_urban, description=(
        "GPS dataset: urban (U) or rural (R), carried along as `urban`."))
    gps_country: str = Field(DHS.gps_country, description=(
        "GPS dataset: the country code, carried along as `country`."))
    gps_year: str = Field(DHS.gps_year, description=(
        "GPS dataset: the survey year, carried along as `year`."))


class LsmsColumns(Section):
    """Column names of an LSMS consumption aggregate and its household geovariables file.

    Defaults follow Malawi's IHS consumption aggregate and household geovariables; other
    LSMS-ISA surveys name them differently (see their codebooks).
    """

    household: str = Field(LSMS.household, description=(
        "The household id, in both files (the geovariables are joined on it)."))
    cluster: str = Field(LSMS.cluster, description=(
        "The enumeration area: each one becomes one cluster."))
    consumption: str = Field(LSMS.consumption, description=(
        "Total household consumption per `period_days`, in the survey's currency."))
    household_size: str = Field(LSMS.household_size, description="Household members.")
    weight: str = Field(LSMS.weight, description="The household sample weight.")
    lat: str = Field(LSMS.lat, description="Latitude (WGS84 degrees), geovariables file.")
    lon: str = Field(LSMS.lon, description="Longitude (WGS84 degrees), geovariables file.")
    urban: str | None = Field(LSMS.urban, description=(
        "The urban/rural column; null when the survey has none."))
    urban_value: int | str = Field(LSMS.urban_value, description=(
        "The value of `urban` that means urban."))
    period_days: float = Field(LSMS.period_days, gt=0, description=(
        "Days the `consumption` column covers (365 for annual aggregates); `consumption_pc_day` "
        "is per-capita consumption divided by it."))
    country: str | None = Field(LSMS.country, description=(
        "A fixed country value for every cluster (not a column name), e.g. `MWI`."))
    year: int | None = Field(LSMS.year, ge=1900, le=2100, description=(
        "A fixed survey year for every cluster (not a column name), e.g. 2016."))


class SurveyConfig(Section):
    """Survey input: a cluster table, or household files turned into one by a recipe."""

    path: Location = Field(description=(
        "The survey: `.csv`, `.dta` (Stata), `.gpkg`, `.shp`, `.geojson` or `.parquet` "
        "(GeoParquet too). Vector files' point geometries give `lon`/`lat` when the file has "
        "no such columns. A local file, or a URL kept as written (`https://`, `s3://`, "
        "`gs://`; read through pandas and fsspec, vector files through GDAL)."))
    recipe: Literal["clusters", "dhs", "lsms"] = Field("clusters", description=(
        "`clusters`: the file has one row per cluster (columns mapped by `id`, `lat`, `lon`, "
        "`outcomes` and the optional columns). `dhs`: `path` is a DHS household recode (HR) and "
        "`locations` its GPS dataset. `lsms`: `path` is an LSMS consumption aggregate and "
        "`locations` (optional) its household geovariables. See docs/data.md."))
    locations: RelPath | None = Field(None, description=(
        "The coordinates file of a recipe (DHS: the GE shapefile, required; LSMS: the "
        "geovariables file, joined on the household id)."))
    id: str | None = Field("cluster_id", description=(
        "`clusters` recipe: the cluster id column. Null numbers the rows (`row1`, `row2`, ...) "
        "for tables without ids."))
    lat: str = Field("lat", description=(
        "`clusters` recipe: the latitude column (WGS84 degrees unless `crs` says otherwise)."))
    lon: str = Field("lon", description=(
        "`clusters` recipe: the longitude column (WGS84 degrees unless `crs` says otherwise)."))
    crs: str | None = Field(None, description=(
        "CRS of the `lon` (x) / `lat` (y) columns when they are not WGS84, e.g. `EPSG:32736`; "
        "they are transformed to WGS84."))
    outcomes: tuple[str, ...] = Field(min_length=1, description=(
        "Outcome columns, e.g. `[consumption_pc_day, asset_index]`. The `dhs` recipe produces "
        "`wealth_index`; the `lsms` recipe `consumption_pc` and `consumption_pc_day`."))
    urban: str | None = Field(None, description=(
        "`clusters` recipe: optional urban/rural column (1/0, True/False, U/R or urban/rural), "
        "carried along as `urban`; it enables the urban and rural scores."))
    country: str | None = Field(None, description=(
        "`clusters` recipe: optional country column, carried along as `country`; it enables "
        "leave-one-country-out CV."))
    year: str | None = Field(None, description=(
        "`clusters` recipe: optional survey year column, carried along as `year` (for the "
        "temporal-alignment check)."))
    weight: str | None = Field(None, description=(
        "`clusters` recipe: optional cluster weight column, carried along as `weight`."))
    households: str | None = Field(None, description=(
        "`clusters` recipe: optional column of households per cluster, carried along as "
        "`n_households` and checked against `min_households`."))
    min_households: int = Field(1, ge=1, description=(
        "Clusters with fewer households (the `households` column, or counted by a recipe) are "
        "rejected."))
    reach_km: float | None = Field(None, gt=0, le=100, description=(
        "When set, clusters whose nearest tile centre is farther than this many kilometres are "
        "rejected (`no tile within ...`)."))
    dhs: DhsColumns = Field(DhsColumns(), description="`dhs` recipe: DHS column names.")
    lsms: LsmsColumns = Field(LsmsColumns(), description=(
        "`lsms` recipe: LSMS column names (Malawi IHS's by default) and fixed values."))

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
