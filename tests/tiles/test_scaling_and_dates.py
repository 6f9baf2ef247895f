"""Per-band scaling to 0..255, acquisition dates, and temporal alignment of the inputs."""

import json

import numpy as np
import pytest

from pipeline.errors import InputDataError
from pipeline.tiles.dates import acquisition_date, alignment, nightlight_year, parse_date
from pipeline.tiles.scaling import (
    fixed_ranges,
    percentile_ranges,
    save_ranges,
    to_uint8,
)


def test_fixed_ranges_map_low_to_0_and_high_to_255_per_band():
    ranges = fixed_ranges(((0, 1000), (500, 1500), (0, 4000)), 3)
    data = np.array([[[0, 500, 1000, 2000]], [[500, 1000, 1500, 0]], [[0, 1000, 2000, 4000]]],
                    dtype=np.uint16)
    out = to_uint8(data, ranges)
    assert out.dtype == np.uint8
    assert out[0, 0].tolist() == [0, 128, 255, 255]  # 500/1000*255 = 127.5 -> 128; clipped
    assert out[1, 0].tolist() == [0, 128, 255, 0]
    assert out[2, 0].tolist() == [0, 64, 128, 255]
    np.testing.assert_array_equal(fixed_ranges((0, 10), 2), [[0, 10], [0, 10]])
    assert fixed_ranges(None, 3) is None and fixed_ranges("percentile", 3) is None


def test_percentile_ranges_use_valid_pixels_only():
    values = np.arange(1, 101, dtype=np.float64).reshape(1, 10, 10)
    mask = np.zeros_like(values, dtype=bool)
    mask[0, 0, :5] = True  # 1..5 are nodata
    sample = np.ma.MaskedArray(np.concatenate([values, values * 2]), np.concatenate([mask, mask]))
    ranges = percentile_ranges([sample], (0, 100), "src")
    np.testing.assert_allclose(ranges, [[6, 100], [12, 200]])
    ranges = percentile_ranges([sample], (2, 98), "src")
    expected = np.percentile(np.arange(6, 101), [2, 98])
    np.testing.assert_allclose(ranges[0], expected)
    empty = np.ma.MaskedArray(values, np.ones_like(mask))
    with pytest.raises(InputDataError, match="band 1 of data.tiles.bands has no valid"):
        percentile_ranges([empty], (2, 98), "src")


def test_scaling_json_holds_the_method_bands_and_ranges(tmp_path):
    ranges = np.array([[1.5, 900.0], [2.0, 800.0], [0.0, 700.0]])
    save_ranges(tmp_path / "s.json", ranges, "percentile", (4, 3, 2), (2, 98))
    assert json.loads((tmp_path / "s.json").read_text()) == {
        "method": "percentile", "bands": [4, 3, 2], "low": [1.5, 2.0, 0.0],
        "high": [900.0, 800.0, 700.0], "percentiles": [2, 98]}
    save_ranges(tmp_path / "n.json", None, None, (1, 2, 3), (2, 98))
    assert json.loads((tmp_path / "n.json").read_text()) == {
        "method": "none", "bands": [1, 2, 3], "low": None, "high": None}


def test_dates_from_tags_then_file_name():
    assert parse_date("2016:03:04 10:00:00") == "2016-03-04"
    assert parse_date("20190812") == "2019-08-12"
    assert parse_date("2015") == "2015"
    assert parse_date("2015-13-01") == "2015"
    assert parse_date("n/a") is None
    tags = {"ACQUISITION_DATE": "2018-06-01", "OTHER": "x"}
    assert acquisition_date(tags, "s2_2020.tif", ("ACQUISITION_DATE",), r"_(\d{4})") == "2018-06-01"
    assert acquisition_date({}, "S2A_20200415_T36L.tif", (), r"_(\d{8})_") == "2020-04-15"
    assert acquisition_date({}, "tile_2017.tif", (), r"\d{4}") == "2017"
    assert acquisition_date({}, "tile.tif", (), r"_(\d{4})") is None


def test_nightlight_year_config_then_tags_then_name(tmp_path):
    path = tmp_path / "VNL_v2_npp_2016_global.tif"
    assert nightlight_year(path, {}, 2019) == 2019
    assert nightlight_year(path, {"year": "2014"}, None) == 2014
    assert nightlight_year(path, {}, None) == 2016
    assert nightlight_year(tmp_path / "lights.tif", {}, None) is None


def test_nightlight_year_ignores_the_time_the_file_was_written(tmp_path):
    written = {"TIFFTAG_DATETIME": "2023:05:01 10:00:00"}  # set by GDAL when the file is saved
    assert nightlight_year(tmp_path / "viirs_npp_2016_annual.tif", written, None) == 2016
    assert nightlight_year(tmp_path / "lights.tif", written, None) is None
    assert nightlight_year(tmp_path / "lights_2016.tif", {**written, "year": "2015"}, None) == 2015


def test_alignment_reports_gaps_and_warns_beyond_the_limit():
    align = alignment([2019, 2020, None], 2016, ["2015", 2015.0, "n/a"])
    assert align.tiles == (2019, 2020) and align.survey == (2015, 2015)
    assert align.gaps == {"tiles_nightlights": 4, "tiles_survey": 5, "nightlights_survey": 1}
    warnings = align.warnings(2)
    assert len(warnings) == 2
    assert warnings[0] == "tiles and nightlights are 4 years apart (labels.max_year_gap is 2)"
    unknown = alignment([], None, [2016])
    assert unknown.gaps == {} and unknown.warnings(0) == []
