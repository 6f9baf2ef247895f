"""Survey recipes (DHS, LSMS), survey formats, coordinate CRS, and cluster validations."""

from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import Point

from pipeline.config.schema import DhsColumns as DhsConfig
from pipeline.config.schema import LsmsColumns as LsmsConfig
from pipeline.config.schema import SurveyConfig
from pipeline.stages.ingest import survey_source
from pipeline.errors import InputDataError
from pipeline.survey.columns import DhsColumns, LsmsColumns
from pipeline.survey.recipes import survey_clusters
from pipeline.survey.tables import ClusterColumns, beyond_reach, clean_clusters, read_table

NaN = float("nan")


def write_dhs(folder: Path) -> tuple[Path, Path]:
    """A DHS-like household recode (.dta) and GPS dataset (.shp) with DHS's column names."""
    hr = pd.DataFrame({
        "hhid": ["1 1", "1 2", "1 3", "2 1", "2 2", "2 3", "3 1", "5 1", "5 2"],
        "hv001": [1, 1, 1, 2, 2, 2, 3, 5, 5],
        "hv005": [1000000, 1000000, 2000000, 500000, 500000, 500000, 1000000, 0, 1000000],
        "hv271": [100000, 200000, 300000, -100000, NaN, 50000, 0, 100000, 400000],
        "hv007": [2015] * 9,
        "hv025": [1, 1, 1, 2, 2, 2, 2, 2, 2],
    })
    hr.to_stata(folder / "RWHR70FL.DTA", write_index=False)
    gps = gpd.GeoDataFrame({
        "DHSID": [f"RW2015{c:08d}" for c in (1, 2, 4, 5)], "DHSCC": "RW", "DHSYEAR": 2015,
        "DHSCLUST": [1, 2, 4, 5], "URBAN_RURA": ["U", "R", "R", "R"],
        "LATNUM": [-1.95, -2.5, -2.0, 0.0], "LONGNUM": [30.06, 29.9, 30.0, 0.0],
    }, geometry=[Point(30.06, -1.95), Point(29.9, -2.5), Point(30.0, -2.0), Point(0, 0)],
        crs="EPSG:4326")
    gps.to_file(folder / "RWGE72FL.shp")
    return folder / "RWHR70FL.DTA", folder / "RWGE72FL.shp"


def test_dhs_recipe_aggregates_households_to_gps_clusters(tmp_path):
    hr, gps = write_dhs(tmp_path)
    cfg = SurveyConfig(path=hr, recipe="dhs", locations=gps, outcomes=("wealth_index",))
    clusters, bad_clusters, bad_households = survey_clusters(survey_source(cfg))
    assert clusters["cluster_id"].tolist() == ["RW201500000001", "RW201500000002"]
    assert clusters["wealth_index"].tolist() == pytest.approx([2.25, -0.25])  # hv005-weighted
    assert clusters["n_households"].tolist() == [3, 2]
    assert clusters["weight"].tolist() == pytest.approx([4.0, 1.0])
    assert clusters["urban"].tolist() == [1, 0]
    assert clusters["country"].tolist() == ["RW", "RW"] and clusters["year"].tolist() == [2015] * 2
    assert (clusters["lat"].tolist(), clusters["lon"].tolist()) == ([-1.95, -2.5], [30.06, 29.9])
    households = dict(zip(bad_households["id"], bad_households["reason"]))
    assert households == {"2 2": "hv271 (wealth index score) is empty",
                          "5 1": "hv005 (household weight) is not a positive number"}
    assert bad_households["row"].tolist() == [5, 8]
    reasons = dict(zip(bad_clusters["id"], bad_clusters["reason"]))
    assert reasons["cluster 3"].startswith("cluster has households but no row in the GPS dataset")
    assert reasons["cluster 4"] == "GPS cluster has no household in RWHR70FL.DTA"
    assert "missing-GPS marker" in reasons["RW201500000005"]
    assert len(bad_clusters) == 3


def test_dhs_repeated_gps_rows_are_rejected_with_their_row(tmp_path):
    hr, gps_path = write_dhs(tmp_path)
    gps = gpd.read_file(gps_path)
    again = gps.iloc[[1]].assign(LATNUM=-2.6, LONGNUM=29.8)  # cluster 2 a second time
    pd.concat([gps, again], ignore_index=True).to_file(gps_path)
    cfg = SurveyConfig(path=hr, recipe="dhs", locations=gps_path, outcomes=("wealth_index",))
    clusters, bad_clusters, _ = survey_clusters(survey_source(cfg))
    assert clusters["lat"].tolist() == [-1.95, -2.5]  # the first row of cluster 2 is kept
    duplicate = bad_clusters[bad_clusters["reason"].str.startswith("duplicate")]
    assert duplicate[["source", "row", "id", "reason"]].values.tolist() == [
        [str(gps_path), 5, "cluster 2", "duplicate GPS cluster number 2 (first row kept)"]]
    assert len(bad_clusters) == 4

def test_dhs_min_households_rejects_small_clusters(tmp_path):
    hr, gps = write_dhs(tmp_path)
    cfg = SurveyConfig(path=hr, recipe="dhs", locations=gps, outcomes=("wealth_index",),
                       min_households=3)
    clusters, bad_clusters, _ = survey_clusters(survey_source(cfg))
    assert clusters["cluster_id"].tolist() == ["RW201500000001"]
    assert "fewer than data.survey.min_households=3 households" in bad_clusters["reason"].tolist()


def write_lsms(folder: Path, fmt: str = "dta") -> tuple[Path, Path]:
    """An LSMS-like consumption aggregate and geovariables file (Malawi IHS column names)."""
    cons = pd.DataFrame({
        "case_id": ["h1", "h2", "h3", "h4", "h5", "h6"],
        "ea_id": ["A", "A", "A", "B", "B", "B"],
        "hhsize": [2, 4, 3, 1, 3, 0],
        "hh_wgt": [100.0, 100.0, 100.0, 50.0, 150.0, 50.0],
        "rexpagg": [3650.0, 7300.0, -5.0, 1000.0, 3000.0, 900.0],
        "urban": [1, 1, 1, 2, 2, 2],
    })
    geo = pd.DataFrame({"case_id": ["h1", "h2", "h3", "h4", "h5", "h6"],
                        "lat_modified": [-13.9, -13.9, -13.9, -15.8, -15.8, -15.8],
                        "lon_modified": [33.7, 33.7, 33.7, 35.0, 35.0, 35.0]})
    if fmt == "dta":
        cons.to_stata(folder / "ihs_consumption_aggregate.dta", write_index=False)
        geo.to_stata(folder / "householdgeovariables.dta", write_index=False)
        return folder / "ihs_consumption_aggregate.dta", folder / "householdgeovariables.dta"
    cons.merge(geo).to_csv(folder / "consumption.csv", index=False)
    return folder / "consumption.csv", None


def test_lsms_recipe_gives_per_capita_cluster_consumption(tmp_path):
    cons, geo = write_lsms(tmp_path)
    cfg = SurveyConfig(path=cons, recipe="lsms", locations=geo,
                       outcomes=("consumption_pc_day",), lsms={"country": "MWI", "year": 2016})
    clusters, bad_clusters, bad_households = survey_clusters(survey_source(cfg))
    assert clusters["cluster_id"].tolist() == ["A", "B"]
    # A: (100*3650 + 100*7300) / (100*2 + 100*4) = 1825 a year; B: 500000 / 500 = 1000
    assert clusters["consumption_pc"].tolist() == pytest.approx([1825.0, 1000.0])
    assert clusters["consumption_pc_day"].tolist() == pytest.approx([5.0, 1000 / 365])
    assert clusters["n_households"].tolist() == [2, 2]
    assert clusters["weight"].tolist() == pytest.approx([600.0, 500.0])
    assert clusters["urban"].tolist() == [1.0, 0.0]
    assert clusters["lat"].tolist() == [-13.9, -15.8]
    assert clusters["country"].tolist() == ["MWI"] * 2 and clusters["year"].tolist() == [2016] * 2
    assert dict(zip(bad_households["id"], bad_households["reason"])) == {
        "h3": "rexpagg (consumption) <= 0",
        "h6": "hhsize (household size) is not a positive number"}
    assert len(bad_clusters) == 0


def test_lsms_recipe_reads_a_csv_with_coordinates_inside(tmp_path):
    cons, _ = write_lsms(tmp_path, fmt="csv")
    cfg = SurveyConfig(path=cons, recipe="lsms", outcomes=("consumption_pc",))
    clusters, _, bad = survey_clusters(survey_source(cfg))
    assert clusters["consumption_pc"].tolist() == pytest.approx([1825.0, 1000.0])
    assert len(bad) == 2


def test_lsms_missing_column_names_the_config_section(tmp_path):
    cons, geo = write_lsms(tmp_path)
    cfg = SurveyConfig(path=cons, recipe="lsms", locations=geo, outcomes=("consumption_pc",),
                       lsms={"consumption": "rexpaggpc_total"})
    with pytest.raises(InputDataError, match=r"'rexpaggpc_total' \(did you mean 'rexpagg'\?\)"
                                             r".*Map them in data.survey.lsms"):
        survey_clusters(survey_source(cfg))


CLUSTERS = pd.DataFrame({"cluster_id": ["a", "b", "c"], "lat": [-13.5, -13.6, -13.7],
                         "lon": [34.0, 34.1, 34.2], "cons": [1.5, 0.0, 2.5]})


@pytest.mark.parametrize("suffix", [".csv", ".gpkg", ".parquet", ".shp", ".geojson"])
def test_every_survey_format_gives_the_same_clusters(tmp_path, suffix):
    path = tmp_path / f"survey{suffix}"
    if suffix == ".csv":
        CLUSTERS.to_csv(path, index=False)
    else:
        points = gpd.points_from_xy(CLUSTERS["lon"], CLUSTERS["lat"], crs="EPSG:4326")
        gdf = gpd.GeoDataFrame(CLUSTERS.drop(columns=["lat", "lon"]), geometry=points)
        if suffix == ".parquet":
            gdf.to_parquet(path)
        else:
            gdf.to_file(path)
    cfg = SurveyConfig(path=path, outcomes=("cons",))
    clusters, rejected, _ = survey_clusters(survey_source(cfg), positive=["cons"])
    assert clusters["cluster_id"].tolist() == ["a", "c"]
    assert clusters["lat"].tolist() == pytest.approx([-13.5, -13.7])
    assert rejected["reason"].tolist() == ["cons <= 0 cannot be logged (regression.targets "
                                           "log: true)"]


def test_coordinates_in_another_crs_are_transformed(tmp_path):
    to_utm = Transformer.from_crs(4326, 32736, always_xy=True)
    x, y = to_utm.transform(CLUSTERS["lon"].to_numpy(), CLUSTERS["lat"].to_numpy())
    df = CLUSTERS.assign(lon=x, lat=y)
    cfg = ClusterColumns(lat="lat", lon="lon", outcomes=("cons",), crs="EPSG:32736")
    clusters, rejected = clean_clusters(df, cfg, tmp_path / "s.csv")
    assert len(rejected) == 0
    np.testing.assert_allclose(clusters["lon"], CLUSTERS["lon"], atol=1e-9)
    np.testing.assert_allclose(clusters["lat"], CLUSTERS["lat"], atol=1e-9)
    with pytest.raises(InputDataError, match="data.survey.crs: 'EPSG:99999' is not a CRS"):
        clean_clusters(df, replace(cfg, crs="EPSG:99999"), tmp_path / "s.csv")


def test_clusters_beyond_reach_of_any_tile_are_rejected(tmp_path):
    clusters, _ = clean_clusters(CLUSTERS, ClusterColumns(lat="lat", lon="lon",
                                                          outcomes=("cons",)), tmp_path)
    tile_lon, tile_lat = np.array([34.0, 34.11]), np.array([-13.5, -13.6])
    kept, rejected = beyond_reach(clusters, tile_lon, tile_lat, 5.0, tmp_path / "s.csv")
    assert kept["cluster_id"].tolist() == ["a", "b"]
    assert rejected["id"].tolist() == ["c"]
    # c (-13.7, 34.2) to the nearest tile (-13.6, 34.11): haversine
    lat1, lon1, lat2, lon2 = map(np.radians, (-13.7, 34.2, -13.6, 34.11))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    km = 2 * 6371.0088 * np.arcsin(np.sqrt(h))
    assert rejected["reason"].iloc[0] == (f"no tile within data.survey.reach_km=5.0 km (nearest "
                                          f"tile centre {km:.1f} km away)")


def test_stata_reader_reads_only_the_needed_columns(tmp_path):
    hr, _ = write_dhs(tmp_path)
    table = read_table(hr, columns=["hv001", "hv271", "nope"])
    assert list(table.columns) == ["hv001", "hv271"]
    assert "hv005" in table.attrs["all_columns"]


def test_real_dhs_cluster_table(shared_data):
    path = shared_data / "surveys" / "dhs_clusters_africa_2009_2016.csv"
    cfg = SurveyConfig(path=path, id=None, outcomes=("wealthpooled",), country="country",
                       year="year", urban="urban_rural", households="households",
                       min_households=5)
    clusters, rejected, _ = survey_clusters(survey_source(cfg))
    raw = pd.read_csv(path)
    small = raw.index[raw["households"] < 5]
    assert len(raw) == 19669 and len(clusters) == 19669 - len(small)
    assert rejected["row"].tolist() == (small + 1).tolist()
    assert set(rejected["reason"]) == {"fewer than data.survey.min_households=5 households"}
    assert clusters["country"].nunique() == 23
    assert clusters["cluster_id"].iloc[0] == "row1"
    assert clusters["wealthpooled"].mean() == pytest.approx(raw["wealthpooled"].drop(small).mean())


def test_the_config_sections_have_the_recipes_columns():
    """The config's sections take their defaults from pipeline.survey.columns; their fields must
    be the library's, which ingest builds from them."""
    assert DhsColumns(**DhsConfig().model_dump()) == DhsColumns()
    assert LsmsColumns(**LsmsConfig().model_dump()) == LsmsColumns()
    assert DhsConfig.model_fields.keys() == DhsColumns.__dataclass_fields__.keys()
    assert LsmsConfig.model_fields.keys() == LsmsColumns.__dataclass_fields__.keys()


def test_the_survey_section_becomes_plain_values(tmp_path):
    section = SurveyConfig(path=tmp_path / "hr.csv", recipe="dhs", locations=tmp_path / "ge.shp",
                           outcomes=("wealth_index",), min_households=3,
                           dhs={"wealth": "hv270"})
    source = survey_source(section)
    assert (source.path, source.recipe, source.locations) == (tmp_path / "hr.csv", "dhs",
                                                              tmp_path / "ge.shp")
    assert source.columns == ClusterColumns(lat="lat", lon="lon", outcomes=("wealth_index",),
                                            min_households=3)
    assert source.dhs == DhsColumns(wealth="hv270") and source.lsms == LsmsColumns()
