from pathlib import Path

import pandas as pd
import pytest

from pipeline.errors import InputDataError
from pipeline.survey.tables import ClusterColumns, clean_clusters, read_table


def cfg(tmp_path: Path, **kw) -> ClusterColumns:
    return ClusterColumns(lat="lat", lon="lon", outcomes=("consumption",), **kw)


def test_bad_rows_are_rejected_with_reasons(tmp_path):
    df = pd.DataFrame({
        "cluster_id": ["a", "b", "c", "a", "e", "f"],
        "lat": [-13.5, 0.0, 95.0, -13.6, "north", -13.7],
        "lon": [34.0, 0.0, 34.0, 34.1, 34.2, 34.3],
        "consumption": [1.5, 2.0, 2.0, 1.0, 1.0, None],
    })
    clusters, rejected = clean_clusters(df, cfg(tmp_path), tmp_path / "s.csv")
    assert clusters["cluster_id"].tolist() == ["a"]
    assert clusters.crs.to_epsg() == 4326
    reasons = dict(zip(rejected["row"], rejected["reason"]))
    assert "missing-GPS" in reasons[2]
    assert "outside" in reasons[3]
    assert "duplicate" in reasons[4]
    assert reasons[5] == "lat 'north' is not a number"
    assert reasons[6] == "consumption is empty"
    assert len(rejected) == 5


def test_missing_column_suggests(tmp_path):
    df = pd.DataFrame({"cluster_id": ["a"], "latitude": [1.0], "lon": [2.0], "consumption": [1.0]})
    with pytest.raises(InputDataError, match=r"'lat' \(did you mean 'latitude'\?\)"):
        clean_clusters(df, cfg(tmp_path), tmp_path / "s.csv")


def test_read_table_errors_name_the_file(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputDataError, match="empty.csv: the survey file is empty"):
        read_table(empty)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,name\n1,Bouak\xe9\n".encode("latin-1"))
    with pytest.raises(InputDataError, match="latin.csv: not UTF-8"):
        read_table(latin)
    with pytest.raises(InputDataError, match="survey file not found"):
        read_table(tmp_path / "nope.csv")


def test_geopackage_points_become_lon_lat(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    gdf = gpd.GeoDataFrame({"cluster_id": ["x"], "consumption": [2.0]},
                           geometry=[Point(500000, 8500000)], crs="EPSG:32736")
    gdf.to_file(tmp_path / "s.gpkg", driver="GPKG")
    table = read_table(tmp_path / "s.gpkg")
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(32736, 4326, always_xy=True).transform(500000, 8500000)
    assert table["lon"].iloc[0] == pytest.approx(lon)
    assert table["lat"].iloc[0] == pytest.approx(lat)
