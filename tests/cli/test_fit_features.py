"""``poverty-pipeline fit-features`` on a feature table a user brings."""

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.cli.main import main


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 240
    lon, lat = rng.uniform(33, 34, n), rng.uniform(-14, -13, n)
    wealth = np.sin(lon * 6) + np.cos(lat * 5) + rng.normal(scale=0.3, size=n)
    features = {f"mosaiks_{k}": np.exp(wealth * rng.uniform(0.2, 1.0) + rng.normal(scale=0.5, size=n))
                for k in range(40)}
    features["mosaiks_empty"] = np.zeros(n)
    frame = pd.DataFrame({"id": [f"c{i}" for i in range(n)], "lat": lat, "lon": lon,
                          "country": np.where(lon < 33.5, "MW", "ZM"),
                          "consumption": np.exp(0.5 * wealth + 1), "label": "x", **features})
    frame.loc[3, "consumption"] = -1.0  # cannot be logged: excluded and counted
    path = tmp_path_factory.mktemp("byo") / "features.parquet"
    frame.to_parquet(path)
    return path


@pytest.mark.slow
def test_fit_features_writes_the_fit_outputs(table, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["fit-features", str(table), "--target", "consumption", "--log-target",
                 "--features", "mosaiks_*", "--lat", "lat", "--lon", "lon", "--country", "country",
                 "--id", "id", "--block-km", "20", "--bootstrap", "100", "--out", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    entry = metrics["targets"]["consumption"]
    assert entry["excluded"] == 1 and entry["n"] == 239 and entry["features"] == 41
    assert entry["features_used"] == 40  # the all-zero column is dropped inside each fold
    assert set(entry["schemes"]) == {"random", "spatial", "country"}
    for scheme in ("random", "spatial"):
        result = entry["schemes"][scheme]["all"]
        assert result["model"]["r2"] > 0.5
        assert result["model"]["r2_ci"][0] < result["model"]["r2"] < result["model"]["r2_ci"][1]
        assert "region_mean" in result
    assert entry["schemes"]["country"]["all"]["folds"] == 2
    interval = entry["interval"]
    assert 0 < interval["naive_half_width"] and interval["scheme"] == "spatial"
    assert interval["map_method"] == "cv_plus" and "1 - 2 alpha" in interval["guarantee"]
    for method in ("naive_cv", "cv_plus", "normalised"):  # measured on held-out blocks
        measured = interval["methods"][method]
        assert measured["nominal"] == 0.9 and measured["held_out_clusters"] == 239
        assert 0.8 <= measured["held_out_coverage"] <= 1.0 and measured["mean_width"] > 0
    assert interval["methods"]["naive_cv"]["guarantee"].startswith("none")
    cv = pd.read_csv(out / "cv_predictions.csv")
    assert set(cv["scheme"]) == {"random", "spatial", "country"} and len(cv) == 3 * 239
    model = json.loads((out / "model.json").read_text())["consumption"]
    assert len(model["feature_columns"]) == 41 and model["log"] is True
    assert (out / "consumption_r2_by_percentile.png").stat().st_size > 0
    assert "spatial" in capsys.readouterr().out


def test_without_coordinates_only_random_cv_runs(table, tmp_path):
    out = tmp_path / "plain"
    assert main(["fit-features", str(table), "--target", "consumption", "--features",
                 "mosaiks_1,mosaiks_2", "--features", "mosaiks_3", "--bootstrap", "0",
                 "--out", str(out)]) == 0
    entry = json.loads((out / "metrics.json").read_text())["targets"]["consumption"]
    assert entry["features"] == 3
    assert set(entry["schemes"]) == {"random", "country"}
    assert "skipped" in entry["schemes"]["country"]


@pytest.mark.parametrize("args, message", [
    (["--features", "nothing_*"], "matches no column"),
    (["--features", "label"], "not numeric"),
    (["--features", "mosaiks_*", "--lat", "lat"], "both --lat and --lon"),
    (["--features", "mosaiks_*", "--country", "nation"], "no column 'nation'"),
    (["--features", "mosaiks_*", "--folds", "1"], "folds"),
])
def test_bad_arguments_exit_2_with_one_line(table, tmp_path, capsys, args, message):
    code = main(["fit-features", str(table), "--target", "consumption", "--out",
                 str(tmp_path / "x"), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_missing_table_exits_2(tmp_path, capsys):
    assert main(["fit-features", str(tmp_path / "none.csv"), "--target", "y", "--features", "a",
                 "--out", str(tmp_path / "o")]) == 2
    assert "feature table not found" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--block-km", "0"], "fit-features: --block-km: Input should be greater than 0; got 0.0"),
    (["--buffer-km", "-1"],
     "fit-features: --buffer-km: Input should be greater than or equal to 0; got -1.0"),
    (["--folds", "1"], "fit-features: --folds: Input should be greater than or equal to 2; got 1"),
    (["--bootstrap", "-5"],
     "fit-features: --bootstrap: Input should be greater than or equal to 0; got -5"),
])
def test_bad_options_name_the_flag(table, tmp_path, capsys, args, message):
    code = main(["fit-features", str(table), "--target", "consumption", "--features", "mosaiks_1",
                 "--out", str(tmp_path / "x"), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err


def test_an_unknown_id_column_names_the_option_and_the_columns(table, tmp_path, capsys):
    code = main(["fit-features", str(table), "--target", "consumption", "--features", "mosaiks_1",
                 "--id", "nope", "--bootstrap", "0", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{table}: no column 'nope' (--id); the table has id, lat, lon, country" in err


def _fit_csv(table, tmp_path, change, *args):
    """Run fit-features on a CSV copy of the fixture table with ``change`` applied."""
    path = tmp_path / "changed.csv"
    frame = pd.read_parquet(table)
    change(frame)
    frame.to_csv(path, index=False)
    code = main(["fit-features", str(path), "--target", "consumption", "--log-target",
                 "--features", "mosaiks_*", "--id", "id", "--bootstrap", "0",
                 "--out", str(tmp_path / "x"), *args])
    return code, path


def _set(column, row, value):
    def change(frame):
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
    return change


@pytest.mark.parametrize("column, value, shown", [
    ("lat", np.nan, "nan"), ("lat", "13.2S", "'13.2S'"), ("lat", 95.0, "95.0"),
    ("lon", -200.0, "-200.0"),
])
@pytest.mark.parametrize("buffer_km", ["0", "5"])
def test_a_bad_coordinate_stops_naming_row_id_column_and_value(table, tmp_path, capsys, column,
                                                               value, shown, buffer_km):
    code, path = _fit_csv(table, tmp_path, _set(column, 7, value), "--lat", "lat", "--lon", "lon",
                          "--buffer-km", buffer_km)
    err = capsys.readouterr().err
    limit = "90" if column == "lat" else "180"
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert (f"{path} data row 8 (id 'c7'): --{column} column {column!r} has {shown}; coordinates "
            f"must be decimal degrees within ±{limit} (south and west negative). Fix or remove "
            "the row.") in err


@pytest.mark.slow
def test_a_bad_coordinate_in_an_excluded_row_is_not_an_error(table, tmp_path):
    # row 3's consumption (-1) cannot be logged, so the row is excluded and counted anyway
    code, _ = _fit_csv(table, tmp_path, _set("lat", 3, np.nan), "--lat", "lat", "--lon", "lon",
                       "--block-km", "20")
    assert code == 0


@pytest.mark.parametrize("features, item, column, flag", [
    ("consumption,mosaiks_*", "consumption", "consumption", "--target"),
    ("mosaiks_1,l*", "l*", "lat", "--lat"),
    ("id", "id", "id", "--id"),
    ("country", "country", "country", "--country"),
])
def test_features_cannot_include_the_target_id_or_coordinates(table, tmp_path, capsys, features,
                                                              item, column, flag):
    code = main(["fit-features", str(table), "--target", "consumption", "--features", features,
                 "--id", "id", "--lat", "lat", "--lon", "lon", "--country", "country",
                 "--bootstrap", "0", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert (f"{table}: --features {item!r} selects {column!r}, the {flag} column; the outcome, "
            "id, coordinates and country cannot be features. Drop it from --features.") in err


def test_a_non_numeric_feature_value_is_reported_with_its_row(table, tmp_path, capsys):
    code, path = _fit_csv(table, tmp_path, _set("mosaiks_5", 11, "1,5"))
    err = capsys.readouterr().err
    assert code == 2
    assert (f"{path}: feature column 'mosaiks_5' is not numeric (data row 12: '1,5'); fix or "
            "blank those values, or leave the column out of --features.") in err
