"""Survey recipes: the files users download from DHS or LSMS turned into one cluster table.

``data.survey.recipe`` picks one:

- ``clusters``: the file already has one row per cluster (columns mapped in ``data.survey``).
- ``dhs``: a household recode (HR, Stata .dta or CSV) aggregated to clusters (``hv001``):
  ``wealth_index`` is the mean of the wealth factor score ``hv271`` / 100000 weighted by the
  household weight ``hv005`` / 1e6; coordinates, urban/rural, country and year come from the
  GPS dataset (GE shapefile: ``DHSCLUST``, ``LATNUM``, ``LONGNUM``, ``URBAN_RURA``, ...).
- ``lsms``: a household consumption aggregate (and optionally a geovariables file joined on
  the household id) aggregated to enumeration areas: ``consumption_pc`` is the cluster's
  per-capita consumption, sum(weight x consumption) / sum(weight x household size), in the
  survey's units and period; ``consumption_pc_day`` divides it by ``period_days``.

Every household or cluster left out is returned with its reason (for ``ingest/rejected.csv``).
The canonical table has ``cluster_id, lat, lon, country, year, urban, n_households, weight``
and the outcomes; it is then checked by :func:`pipeline.survey.tables.clean_clusters`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.survey.columns import DHS_OUTCOMES, LSMS_OUTCOMES, DhsColumns, LsmsColumns
from pipeline.survey.tables import (
    REJECTED_COLUMNS,
    ClusterColumns,
    clean_clusters,
    read_table,
    require_columns,
)

RECIPES = ("clusters", "dhs", "lsms")
CANONICAL = {"id": "cluster_id", "lat": "lat", "lon": "lon", "urban": "urban",
             "country": "country", "year": "year", "weight": "weight",
             "households": "n_households", "crs": None}


@dataclass(frozen=True)
class SurveySource:
    """A survey input (config ``data.survey``): the file, the recipe and its columns.

    Attributes:
        path: the cluster table (``clusters``), household recode (``dhs``) or consumption
            aggregate (``lsms``): a local file or a URL (a string).
        recipe: one of :data:`RECIPES`.
        columns: the cluster table's columns (``clusters``); for the other recipes, the
            outcomes asked for and ``min_households``.
        locations: the GPS dataset (``dhs``) or geovariables file (``lsms``, optional).
        dhs, lsms: the recipes' column names.
    """

    path: Path | str
    recipe: str
    columns: ClusterColumns
    locations: Path | None = None
    dhs: DhsColumns = field(default_factory=DhsColumns)
    lsms: LsmsColumns = field(default_factory=LsmsColumns)


def survey_clusters(cfg: SurveySource, positive: Sequence[str] = ()
                    ) -> tuple[gpd.GeoDataFrame, pd.DataFrame, pd.DataFrame]:
    """The canonical cluster table of a survey, rejected clusters, rejected households.

    Args:
        cfg: the survey input.
        positive: outcomes that must be > 0 (targets fitted on a log scale).

    Returns:
        clusters (EPSG:4326 points; a recipe's table carries all the outcomes it produces),
        and two ``source, row, id, reason`` tables: clusters left out, and households left
        out (empty for the ``clusters`` recipe).
    """
    if cfg.recipe == "clusters":
        clusters, rejected = clean_clusters(read_table(cfg.path), cfg.columns, cfg.path, positive)
        return clusters, rejected, pd.DataFrame(columns=REJECTED_COLUMNS)
    if cfg.recipe == "dhs":
        table, households, unmatched = dhs_table(cfg)
        produced = DHS_OUTCOMES
    else:
        table, households = lsms_table(cfg)
        unmatched, produced = pd.DataFrame(columns=REJECTED_COLUMNS), LSMS_OUTCOMES
    outcomes = tuple(dict.fromkeys((*cfg.columns.outcomes, *produced)))
    mapping = replace(cfg.columns, **CANONICAL, outcomes=outcomes)
    clusters, rejected = clean_clusters(table, mapping, cfg.path, positive, source_rows=False)
    return clusters, pd.concat([unmatched, rejected], ignore_index=True), households


def _rejected(path: Path, rows: pd.Index, ids: Sequence[object], reasons: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame({"source": str(path), "row": np.asarray(rows, dtype=int) + 1,
                         "id": [str(i) for i in ids], "reason": list(reasons)},
                        columns=REJECTED_COLUMNS)


def _household_checks(checks: list[tuple[pd.Series, str]], index: pd.Index) -> pd.Series:
    """The first failed check's reason per household ('' where all pass)."""
    reasons = pd.Series("", index=index, dtype=object)
    for bad, reason in checks:
        reasons[bad & reasons.eq("")] = reason
    return reasons


def _num(df: pd.DataFrame, column: str | None) -> pd.Series:
    if column is None or column not in df:
        return pd.Series(np.nan, index=df.index)
    return pd.to_numeric(df[column], errors="coerce")


def dhs_table(cfg: SurveySource) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Cluster table from a DHS household recode and GPS dataset, and what was left out.

    Returns:
        table: one row per GPS cluster with households (canonical columns + wealth_index).
        households: rejected households (no wealth score, cluster number or positive weight).
        clusters: recode clusters missing from the GPS dataset, GPS clusters without households,
            repeated GPS rows of a cluster number (the first is kept).
    """
    c, gps_path = cfg.dhs, cfg.locations
    per, rejected = _dhs_households(cfg.path, c)
    gps = read_table(gps_path)
    require_columns(gps, [c.gps_cluster, c.gps_lat, c.gps_lon], gps_path, "data.survey.dhs")
    gps, repeated = _first_gps_rows(gps.assign(cluster=_num(gps, c.gps_cluster)), gps_path)
    merged = gps.merge(per, left_on="cluster", right_index=True, how="outer", indicator=True)
    no_gps = merged[merged["_merge"] == "right_only"]["cluster"]
    empty = merged[merged["_merge"] == "left_only"]["cluster"]
    unmatched = pd.DataFrame({
        "source": [str(cfg.path)] * len(no_gps) + [str(gps_path)] * len(empty),
        "row": pd.array([pd.NA] * (len(no_gps) + len(empty))),
        "id": [f"cluster {v:g}" for v in (*no_gps, *empty)],
        "reason": [f"cluster has households but no row in the GPS dataset {gps_path.name}"]
        * len(no_gps) + [f"GPS cluster has no household in {Path(str(cfg.path)).name}"] * len(empty)},
        columns=REJECTED_COLUMNS)
    unmatched = pd.concat([repeated, unmatched], ignore_index=True)
    return _dhs_canonical(merged[merged["_merge"] == "both"], c), rejected, unmatched


def _first_gps_rows(gps: pd.DataFrame, path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first GPS row of each cluster number, and the later ones as rejected rows."""
    repeat = gps["cluster"].duplicated()
    numbers = gps.loc[repeat, "cluster"]
    rejected = _rejected(path, gps.index[repeat], [f"cluster {v:g}" for v in numbers],
                         [f"duplicate GPS cluster number {v:g} (first row kept)" for v in numbers])
    return gps[~repeat], rejected


def _dhs_households(path: Path, c: DhsColumns) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-cluster household count, weight sum, weighted mean wealth; rejected households."""
    hr = read_table(path, columns=[c.cluster, c.household, c.weight, c.wealth, c.year])
    require_columns(hr, [c.cluster, c.weight, c.wealth], path, "data.survey.dhs")
    cluster, weight = _num(hr, c.cluster), _num(hr, c.weight) / 1e6
    wealth = _num(hr, c.wealth) / c.wealth_divisor
    reasons = _household_checks([
        (cluster.isna(), f"{c.cluster} (cluster number) is empty"),
        (wealth.isna(), f"{c.wealth} (wealth index score) is empty"),
        (~(weight > 0), f"{c.weight} (household weight) is not a positive number"),
    ], hr.index)
    bad = reasons.ne("")
    ids = hr[c.household] if c.household in hr else cluster.astype(str)
    hh = pd.DataFrame({"cluster": cluster, "w": weight, "wx": weight * wealth,
                       "year": _num(hr, c.year)})[~bad]
    per = hh.groupby("cluster").agg(n_households=("w", "size"), weight=("w", "sum"),
                                    wx=("wx", "sum"), hr_year=("year", "median"))
    per["wealth_index"] = per.pop("wx") / per["weight"]
    return per, _rejected(path, hr.index[bad], ids[bad], reasons[bad])


def _dhs_canonical(m: pd.DataFrame, c: DhsColumns) -> pd.DataFrame:
    year = _num(m, c.gps_year).fillna(m["hr_year"])
    year = year.where(~(year < 100), year + 1900)  # two-digit hv007 in old recodes
    country = m[c.gps_country].astype(str) if c.gps_country in m else pd.Series("", index=m.index)
    if c.gps_id in m:
        ids = m[c.gps_id].astype(str).str.strip()
    else:
        ids = [f"{k}{int(y) if pd.notna(y) else ''}{int(n):08d}"
               for k, y, n in zip(country, year, m["cluster"])]
    urban = (m[c.gps_urban].astype(str).str.upper().str.startswith("U").astype(int)
             if c.gps_urban in m else np.nan)
    return pd.DataFrame({
        "cluster_id": list(ids), "lat": _num(m, c.gps_lat), "lon": _num(m, c.gps_lon),
        "country": country, "year": year, "urban": urban,
        "n_households": m["n_households"].astype(int), "weight": m["weight"],
        "wealth_index": m["wealth_index"]}).reset_index(drop=True)


def lsms_table(cfg: SurveySource) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cluster table from an LSMS consumption aggregate (+ geovariables), and rejected households.

    Returns:
        table: one row per cluster (canonical columns + consumption_pc, consumption_pc_day).
        rejected: households with missing or non-positive consumption, size or weight,
            and duplicate household ids.
    """
    c = cfg.lsms
    coords = [c.lat, c.lon]
    wanted = [c.household, c.cluster, c.consumption, c.household_size, c.weight, c.urban]
    hh = read_table(cfg.path, columns=[w for w in wanted if w] + coords)
    require_columns(hh, [w for w in wanted if w], cfg.path, "data.survey.lsms")
    if cfg.locations is not None:
        geo = read_table(cfg.locations, columns=[c.household, *coords])
        require_columns(geo, [c.household, *coords], cfg.locations, "data.survey.lsms")
        geo = geo[[c.household, *coords]].drop_duplicates(c.household)
        hh = hh.drop(columns=[x for x in coords if x in hh]).merge(geo, on=c.household, how="left")
    else:
        require_columns(hh, coords, cfg.path, "data.survey.lsms")
    cons, size, w = _num(hh, c.consumption), _num(hh, c.household_size), _num(hh, c.weight)
    reasons = _household_checks([
        (hh[c.cluster].isna(), f"{c.cluster} (cluster) is empty"),
        (cons.isna(), f"{c.consumption} (consumption) is empty"),
        (~(cons > 0), f"{c.consumption} (consumption) <= 0"),
        (~(size > 0), f"{c.household_size} (household size) is not a positive number"),
        (~(w > 0), f"{c.weight} (household weight) is not a positive number"),
        (hh[c.household].duplicated(), f"duplicate household id {c.household}"),
    ], hh.index)
    bad = reasons.ne("")
    rejected = _rejected(cfg.path, hh.index[bad], hh.loc[bad, c.household], reasons[bad])
    return _lsms_canonical(hh[~bad], cons[~bad], size[~bad], w[~bad], c), rejected


def _lsms_canonical(hh: pd.DataFrame, cons: pd.Series, size: pd.Series, w: pd.Series,
                    c: LsmsColumns) -> pd.DataFrame:
    urban = (hh[c.urban].astype(str) == str(c.urban_value)).astype(float) if c.urban else np.nan
    parts = pd.DataFrame({"cluster": hh[c.cluster].astype(str), "wc": w * cons, "ws": w * size,
                          "lat": _num(hh, c.lat), "lon": _num(hh, c.lon), "urban": urban})
    per = parts.groupby("cluster", sort=True).agg(
        n_households=("wc", "size"), wc=("wc", "sum"), weight=("ws", "sum"),
        lat=("lat", "median"), lon=("lon", "median"), urban=("urban", "mean"))
    consumption_pc = per["wc"] / per["weight"]
    return pd.DataFrame({
        "cluster_id": per.index.astype(str), "lat": per["lat"].to_numpy(),
        "lon": per["lon"].to_numpy(), "country": c.country, "year": c.year,
        "urban": per["urban"].round().to_numpy(), "n_households": per["n_households"].to_numpy(),
        "weight": per["weight"].to_numpy(), "consumption_pc": consumption_pc.to_numpy(),
        "consumption_pc_day": (consumption_pc / c.period_days).to_numpy()})
