import warnings

import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.transform import from_origin
from shapely.geometry import box

from pipeline.errors import InputDataError
from pipeline.geo.nightlights import sample_footprint, sample_footprints
from pipeline.tiles.reading import find_tiles, read_tile


def test_read_tile_values_footprint_and_band_order(tmp_path, tif_writer):
    data = np.stack([np.full((8, 8), v, np.uint8) for v in (10, 20, 30, 40)])
    path = tif_writer(tmp_path / "t.tif", data)
    pixels, meta = read_tile(path, (3, 2, 1), 8, None)
    assert pixels.shape == (8, 8, 3)
    assert pixels[0, 0].tolist() == [30, 20, 10]
    assert meta.gsd_m == 10.0
    assert meta.valid_share == 1.0
    lon, lat = Transformer.from_crs(32736, 4326, always_xy=True).transform(700040, 8499960)
    assert meta.footprint.centroid.x == pytest.approx(lon, abs=1e-6)
    assert meta.footprint.centroid.y == pytest.approx(lat, abs=1e-6)


def test_uint16_scaled_and_resampled(tmp_path, tif_writer):
    data = np.full((3, 16, 16), 1000, np.uint16)
    path = tif_writer(tmp_path / "t.tif", data)
    pixels, _ = read_tile(path, (1, 2, 3), 8, (0.0, 2000.0))
    assert pixels.shape == (8, 8, 3)
    assert np.all(pixels == 128)
    with pytest.raises(InputDataError, match="data.tiles.scale"):
        read_tile(path, (1, 2, 3), 8, None)


def test_nodata_share_and_errors(tmp_path, tif_writer):
    data = np.ones((3, 4, 4), np.uint8)
    data[:, :2, :] = 0
    path = tif_writer(tmp_path / "n.tif", data, nodata=0)
    assert read_tile(path, (1, 2, 3), 4, None)[1].valid_share == 0.5
    no_crs = tif_writer(tmp_path / "c.tif", data, crs=None)
    with pytest.raises(InputDataError, match="c.tif has no CRS"):
        read_tile(no_crs, (1, 2, 3), 4, None)
    with pytest.raises(InputDataError, match="has 3 band"):
        read_tile(path, (1, 2, 4), 4, None)
    junk = tmp_path / "junk.tif"
    junk.write_text("not a raster")
    with pytest.raises(InputDataError, match="junk.tif: not a readable GeoTIFF"):
        read_tile(junk, (1, 2, 3), 4, None)


def test_find_tiles_recursive_and_empty(tmp_path, tif_writer):
    (tmp_path / "a" / "b").mkdir(parents=True)
    tif_writer(tmp_path / "a" / "b" / "x.TIF", np.ones((3, 2, 2), np.uint8))
    assert [p.name for p in find_tiles(tmp_path)] == ["x.TIF"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match="no .tif/.tiff tiles found"):
        find_tiles(tmp_path / "empty")
    with pytest.raises(InputDataError, match="tile folder not found"):
        find_tiles(tmp_path / "missing")


def test_nightlight_mean_and_max_over_a_footprint(tmp_path, tif_writer):
    # 4x4 raster of 0.1 degree pixels with values 0..15, origin (30, -10)
    values = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    path = tif_writer(tmp_path / "nl.tif", values, crs="EPSG:4326",
                     transform=from_origin(30.0, -10.0, 0.1, 0.1))
    footprint = box(30.0, -10.2, 30.2, -10.0)  # the top-left 2x2 pixels: 0, 1, 4, 5
    with rasterio.open(path) as src:
        mean, peak = sample_footprint(src, footprint)
        assert mean == pytest.approx(2.5)
        assert peak == 5.0
        small = box(30.31, -10.39, 30.33, -10.37)  # inside pixel (row 3, col 3) = 15
        assert sample_footprint(src, small) == (15.0, 15.0)
        outside = sample_footprint(src, box(40, 0, 40.1, 0.1))
        assert np.isnan(outside[0])
    stats = sample_footprints([footprint, small], path)
    np.testing.assert_allclose(stats, [[2.5, 5.0], [15.0, 15.0]])


def test_nightlights_sampled_through_a_reprojection(tmp_path, tif_writer):
    # radiance raster in UTM, footprint in WGS84: values are the row index
    rows = np.repeat(np.arange(10, dtype=np.float32)[:, None], 10, axis=1)[None]
    path = tif_writer(tmp_path / "nl.tif", rows, transform=from_origin(700000, 8500000, 100, 100))
    to_wgs = Transformer.from_crs(32736, 4326, always_xy=True)
    # footprint = the UTM cells of rows 2..3 (y 8499800 .. 8499600), shrunk 1 m inside
    xs, ys = to_wgs.transform([700001, 700999, 700999, 700001], [8499799, 8499799, 8499601, 8499601])
    from shapely.geometry import Polygon

    mean, peak = sample_footprints([Polygon(zip(xs, ys))], path)[0]
    assert mean == pytest.approx(2.5)
    assert peak == 3.0


def test_tile_without_crs_uses_the_configured_one(tmp_path, tif_writer):
    from pipeline.tiles.reading import ReadSpec

    path = tif_writer(tmp_path / "c.tif", np.ones((3, 8, 8), np.uint8), crs=None)
    spec = ReadSpec((1, 2, 3), 8, crs="EPSG:32736")
    _, meta = read_tile(path, (1, 2, 3), 8, None, spec)
    assert meta.crs == "EPSG:32736"
    lon, lat = Transformer.from_crs(32736, 4326, always_xy=True).transform(700040, 8499960)
    assert meta.footprint.centroid.x == pytest.approx(lon, abs=1e-6)
    with pytest.raises(InputDataError, match="data.tiles.crs: 'EPSG:0' is not a CRS"):
        read_tile(path, (1, 2, 3), 8, None, ReadSpec((1, 2, 3), 8, crs="EPSG:0"))


def test_geographic_pixel_size_in_metres_is_the_same_for_ingest_and_inspection(tmp_path,
                                                                             tif_writer):
    from pipeline.tiles.inspect import describe_raster

    data = np.zeros((3, 8, 8), np.uint8)
    path = tif_writer(tmp_path / "geo.tif", data, crs="EPSG:4326",
                      transform=from_origin(30.0, 60.0004, 0.0001, 0.0001))
    _, meta = read_tile(path, (1, 2, 3), 8, None)
    expected = 0.0001 * 111_320.0 * np.cos(np.radians(60.0))  # 0.0001 degree of longitude at 60°
    assert meta.gsd_m == pytest.approx(expected, rel=1e-4)
    assert describe_raster(path).gsd_m == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("nodata", [None, np.nan])
def test_nan_pixels_of_a_float_tile_are_invalid_with_or_without_a_nodata_tag(tmp_path, tif_writer,
                                                                            nodata):
    data = np.full((3, 32, 32), np.nan, np.float32)
    data[:, :8, :8] = 100.0  # 64 finite pixels of 1024
    data[1, 0, 0] = np.nan  # one band missing makes the whole pixel invalid
    path = tif_writer(tmp_path / "nan.tif", data, nodata=nodata)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no NaN cast to uint8
        pixels, meta = read_tile(path, (1, 2, 3), 32, (0.0, 255.0))
    assert meta.valid_share == pytest.approx(63 / 1024)
    expected = np.zeros((32, 32, 3), np.uint8)
    expected[:8, :8] = 100
    expected[0, 0] = 0
    np.testing.assert_array_equal(pixels, expected)


def test_engineering_crs_tile_is_refused_naming_the_file(tmp_path, tif_writer):
    local = CRS.from_wkt('LOCAL_CS["site grid",UNIT["metre",1],AXIS["Easting",EAST],'
                         'AXIS["Northing",NORTH]]')
    path = tif_writer(tmp_path / "local.tif", np.ones((3, 8, 8), np.uint8), crs=local)
    with pytest.raises(InputDataError, match=r"local\.tif: its CRS .*site grid.* cannot be "
                                             r"placed on the Earth.*data\.tiles\.crs"):
        read_tile(path, (1, 2, 3), 8, None)


def test_metre_coordinates_with_a_geographic_crs_are_refused(tmp_path, tif_writer):
    from pipeline.tiles.reading import ReadSpec

    path = tif_writer(tmp_path / "m.tif", np.ones((3, 8, 8), np.uint8), crs=None)
    spec = ReadSpec((1, 2, 3), 8, crs="EPSG:4326")  # the tile's coordinates are UTM metres
    with pytest.raises(InputDataError, match=r"m\.tif: its footprint .* is not within lon "
                                             r"-180\.\.180, lat -90\.\.90.*data\.tiles\.crs"):
        read_tile(path, (1, 2, 3), 8, None, spec)
