"""Coverage-weighted zonal statistics against coverage fractions computed by hand."""

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from pipeline.geo.aggregation import tile_weights
from pipeline.geo.nightlights import sample_footprints, zonal_stats

# 4 x 4 pixels of 0.1 degree from (30, -10); pixel (row r, col c) holds 4r + c; (3, 0) is nodata.
VALUES = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
VALUES[0, 3, 0] = -1
TRANSFORM = from_origin(30.0, -10.0, 0.1, 0.1)


@pytest.fixture
def raster(tmp_path, tif_writer):
    return tif_writer(tmp_path / "r.tif", VALUES.copy(), crs="EPSG:4326", transform=TRANSFORM,
                      nodata=-1)


def test_a_tile_cutting_pixels_counts_each_by_its_covered_share(raster):
    # x 30.05..30.15 covers half of cols 0 and 1; y -10.05..-10.25 covers half of row 0, all of
    # row 1, half of row 2: shares .25 .25 / .5 .5 / .25 .25 of values 0 1 / 4 5 / 8 9
    tile = box(30.05, -10.25, 30.15, -10.05)
    weighted = 0.25 * (0 + 1) + 0.5 * (4 + 5) + 0.25 * (8 + 9)
    with rasterio.open(raster) as src:
        mean, peak, total, count = zonal_stats(src, [tile], ("mean", "max", "sum", "count"))[0]
    assert total == pytest.approx(weighted)
    assert count == pytest.approx(2.0)  # covered pixel area, in pixels
    assert mean == pytest.approx(weighted / 2.0)  # 4.5; the 6 pixel centres it holds: none
    assert peak == 9.0


def test_a_tile_crossing_the_raster_edge_counts_only_what_lies_on_it(raster):
    # x 30.25..30.45 (the raster ends at 30.4), y -10.05..-9.95 (it starts at -10.0): a quarter
    # of pixel (0, 2) = 2 and half of pixel (0, 3) = 3
    tile = box(30.25, -10.05, 30.45, -9.95)
    with rasterio.open(raster) as src:
        mean, peak, total = zonal_stats(src, [tile], ("mean", "max", "sum"))[0]
    assert total == pytest.approx(0.25 * 2 + 0.5 * 3)
    assert mean == pytest.approx((0.25 * 2 + 0.5 * 3) / 0.75)
    assert peak == 3.0


def test_nodata_pixels_and_tiles_off_the_raster(raster):
    on_nodata = box(30.0, -10.4, 30.2, -10.3)  # pixel (3, 0) nodata, (3, 1) = 13
    off = box(40.0, 0.0, 40.1, 0.1)
    stats = sample_footprints([on_nodata, off], raster)
    np.testing.assert_allclose(stats[0], [13.0, 13.0])
    assert np.isnan(stats[1]).all()


def test_a_tile_inside_one_pixel_gets_that_pixel(raster):
    np.testing.assert_allclose(sample_footprints([box(30.31, -10.29, 30.33, -10.27)], raster),
                               [[11.0, 11.0]])


def test_population_counts_are_summed_and_densities_averaged(raster):
    tiles = gpd.GeoDataFrame(geometry=[box(30.05, -10.25, 30.15, -10.05),
                                       box(30.25, -10.05, 30.45, -9.95)], crs="EPSG:4326")
    counts = tile_weights("population", tiles, raster)
    np.testing.assert_allclose(counts, [9.0, 2.0])
    density = tile_weights("population", tiles, raster, population_holds="density")
    np.testing.assert_allclose(density, [4.5, 2.0 / 0.75])
