"""Bad survey tables: bad rows are rejected with a reason; a bad file stops with its name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from robust_cli import assert_exit_2, cli, edit

from pipeline.errors import InputDataError
from pipeline.survey.tables import ClusterColumns, beyond_reach, clean_clusters, read_table

HEADER = "cluster_id,lat,lon,consumption\n"


def survey(tmp_path: Path, text: str | bytes, name: str = "survey.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def clean(path: Path, **mapping):
    cfg = ClusterColumns(**{"lat": "lat", "lon": "lon", **mapping}, outcomes=("consumption",))
    return clean_clusters(read_table(path), cfg, path)


def reasons(rejected: pd.DataFrame) -> dict[str, str]:
    return dict(zip(rejected["id"], rejected["reason"]))


def test_missing_column_names_the_file_and_the_mapping(tmp_path):
    path = survey(tmp_path, "cluster_id,latitude,lon,consumption\nc1,-13.5,34.8,2.0\n")
    with pytest.raises(InputDataError, match=r"survey.csv: column\(s\) 'lat'.*data.survey"):
        clean(path)


def test_text_in_numeric_columns_rejects_the_row(tmp_path):
    path = survey(tmp_path, HEADER + "c1,-13.5,34.8,2.0\nc2,north,34.8,2.0\nc3,-13.5,34.8,lots\n")
    clusters, rejected = clean(path)
    assert clusters["cluster_id"].tolist() == ["c1"]
    assert reasons(rejected) == {"c2": "lat 'north' is not a number",
                                 "c3": "consumption 'lots' is not a number"}
    assert rejected["row"].tolist() == [2, 3]


def test_zero_zero_coordinates_are_the_missing_gps_marker(tmp_path):
    clusters, rejected = clean(survey(tmp_path, HEADER + "c1,-13.5,34.8,2\nc2,0,0,2\n"))
    assert len(clusters) == 1
    assert "missing-GPS marker" in reasons(rejected)["c2"]


def test_duplicate_ids_keep_the_first(tmp_path):
    clusters, rejected = clean(survey(tmp_path, HEADER + "c1,-13.5,34.8,2\nc1,-13.6,34.8,3\n"))
    assert clusters["consumption"].tolist() == [2.0]
    assert reasons(rejected) == {"c1": "duplicate cluster id (the first occurrence is kept)"}


def test_swapped_lat_lon_out_of_range_or_far_from_the_tiles(tmp_path):
    """(34.8, -13.5) given as lat, lon is a valid place, but ~6,000 km from tiles near (-13.5,
    34.8): caught by data.survey.reach_km. Swapped values beyond +-90 are caught as such."""
    path = survey(tmp_path, HEADER + "ok,-13.5,34.8,2\nswap,34.8,-13.5,2\nwild,134.8,-13.5,2\n")
    clusters, rejected = clean(path)
    assert "outside [-90, 90]" in reasons(rejected)["wild"]
    kept, far = beyond_reach(clusters, np.array([34.8]), np.array([-13.5]), 10.0, path)
    assert kept["cluster_id"].tolist() == ["ok"]
    assert far["id"].tolist() == ["swap"]
    assert "data.survey.reach_km" in far["reason"].iloc[0]


@pytest.mark.parametrize("content, message", [
    (b"", "the survey file is empty"),
    (HEADER.encode() + b"c1,-13.5,34.8,2\nc\xe9\xff,-13.5,34.8,2\n", "not UTF-8 text"),
    (b"\x00\x01\x02garbage", "cannot read the survey table|not UTF-8|column"),
])
def test_unreadable_survey_files_raise_input_data_error(tmp_path, content, message):
    path = survey(tmp_path, content)
    with pytest.raises(InputDataError, match=message) as info:
        clean(path)
    assert str(path) in str(info.value)


@pytest.mark.slow
def test_one_row_survey_parses_and_the_run_stops_at_ingest(make_tiny_config, tmp_path):
    path = survey(tmp_path, "cluster_id,lat,lon,consumption_pc_day,asset_index,urban\n"
                            "c1,-13.58,34.84,2.0,0.1,0\n", name="one.csv")
    clusters, rejected = clean_clusters(read_table(path), ClusterColumns(
        lat="lat", lon="lon", outcomes=("consumption_pc_day", "asset_index")), path)
    assert len(clusters) == 1 and len(rejected) == 0
    config = edit(make_tiny_config(tmp_path), lambda d: d["data"]["survey"].update(path=str(path)))
    assert_exit_2(cli("run", config, "--until", "ingest"), str(path), "only 1 valid survey",
                  "cross-validation needs at least 4", "Add clusters or fix the rejected rows")


@pytest.mark.slow
def test_empty_survey_through_the_cli_is_one_line(make_tiny_config, tmp_path):
    path = survey(tmp_path, b"", name="empty.csv")
    config = edit(make_tiny_config(tmp_path), lambda d: d["data"]["survey"].update(path=str(path)))
    assert_exit_2(cli("run", config, "--until", "ingest"), str(path), "empty")


@pytest.mark.slow
def test_swapped_lat_lon_columns_stop_ingest_with_the_fix(make_tiny_config, tiny_world, tmp_path):
    """Swapped columns that stay within +-90 / +-180 are caught without data.survey.reach_km."""
    table = pd.read_csv(tiny_world / "survey.csv")
    path = tmp_path / "swapped.csv"
    table.rename(columns={"lat": "lon", "lon": "lat"}).to_csv(path, index=False)
    config = edit(make_tiny_config(tmp_path), lambda d: d["data"]["survey"].update(path=str(path)))
    assert_exit_2(cli("run", config, "--until", "ingest"), str(path),
                  "latitude and longitude look swapped", "0% of the clusters fall within",
                  "Exchange data.survey.lat and data.survey.lon")


def test_clusters_near_the_tiles_pass_the_swap_check(tmp_path):
    from pipeline.survey.tables import check_not_swapped

    clusters, _ = clean(survey(tmp_path, HEADER + "a,-13.5,34.8,2\nb,-13.6,34.9,2\n"))
    where = (tmp_path / "survey.csv", "clusters")
    check_not_swapped(clusters, np.array([34.8, 34.9]), np.array([-13.5, -13.6]), *where)
    with pytest.raises(InputDataError, match="look swapped"):
        swapped = clusters.assign(lat=clusters["lon"], lon=clusters["lat"])
        check_not_swapped(swapped, np.array([34.8, 34.9]), np.array([-13.5, -13.6]), *where)
