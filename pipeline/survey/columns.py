"""What the DHS and LSMS recipes read and yield: their files' column names (with the names DHS and
Malawi's IHS use as defaults) and the outcomes each recipe computes.

Plain values, importing neither pandas nor the config: the recipes
(:mod:`pipeline.survey.recipes`) take these, and the config's ``data.survey.dhs`` and
``data.survey.lsms`` sections, which document and validate them, take their defaults from here.
"""

from __future__ import annotations

from dataclasses import dataclass

DHS_OUTCOMES = ("wealth_index",)
LSMS_OUTCOMES = ("consumption_pc", "consumption_pc_day")


@dataclass(frozen=True)
class DhsColumns:
    """Column names of a DHS household recode (HR) and its GPS dataset (GE); the defaults are
    DHS's own (config ``data.survey.dhs`` describes each)."""

    cluster: str = "hv001"
    household: str = "hhid"
    weight: str = "hv005"
    wealth: str = "hv271"
    wealth_divisor: float = 100_000.0
    year: str = "hv007"
    gps_cluster: str = "DHSCLUST"
    gps_id: str = "DHSID"
    gps_lat: str = "LATNUM"
    gps_lon: str = "LONGNUM"
    gps_urban: str = "URBAN_RURA"
    gps_country: str = "DHSCC"
    gps_year: str = "DHSYEAR"


@dataclass(frozen=True)
class LsmsColumns:
    """Column names of an LSMS consumption aggregate and its household geovariables file; the
    defaults are Malawi IHS's (config ``data.survey.lsms`` describes each)."""

    household: str = "case_id"
    cluster: str = "ea_id"
    consumption: str = "rexpagg"
    household_size: str = "hhsize"
    weight: str = "hh_wgt"
    lat: str = "lat_modified"
    lon: str = "lon_modified"
    urban: str | None = "urban"
    urban_value: int | str = 1
    period_days: float = 365.0
    country: str | None = None
    year: int | None = None


DHS = DhsColumns()
LSMS = LsmsColumns()
