"""predictions.tif's grid: one pixel per tile, holding the tile's value where its centre lies."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin, rowcol
from rasterio.windows import Window, bounds
from shapely.geometry import box

from pipeline.tiles.mosaic import grid_windows
from pipeline.geo.rasterize import write_tile_raster

SOURCE = from_origin(500000, 9000000, 10, 10)  # 10 m pixels in UTM 36S


def tiles(boxes: list[tuple[float, ...]]) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A catalog of the boxes (EPSG:32736) and a grid giving tile i the value i, footprints in
    EPSG:4326 as predict writes them."""
    catalog = gpd.GeoDataFrame({"crs": "EPSG:32736", "minx": [b[0] for b in boxes],
                                "miny": [b[1] for b in boxes], "maxx": [b[2] for b in boxes],
                                "maxy": [b[3] for b in boxes]},
                               geometry=[box(*b) for b in boxes], crs=32736)
    grid = gpd.GeoDataFrame({"pred_y": np.arange(len(boxes), dtype=float)},
                            geometry=catalog.geometry.to_crs(4326).to_numpy(), crs=4326)
    return catalog, grid


def window_boxes(width: int, height: int, window_px: int, overlap_px: int) -> list:
    return [bounds(Window(*w), SOURCE) for w in grid_windows(width, height, window_px, overlap_px)]


def burnt(tmp_path, boxes):
    """The raster written for ``boxes`` and, per tile, the value of the pixel at its centre."""
    catalog, grid = tiles(boxes)
    pixels = write_tile_raster(tmp_path / "p.tif", grid, catalog, ["pred_y"])
    with rasterio.open(tmp_path / "p.tif") as src:
        band = src.read(1)
        x = [(b[0] + b[2]) / 2 for b in boxes]
        y = [(b[1] + b[3]) / 2 for b in boxes]
        rows, cols = rowcol(src.transform, x, y)
        return src, band, band[rows, cols], pixels


@pytest.mark.parametrize(("size", "window_px", "overlap_px", "n_tiles", "res_m", "shape"), [
    ((515, 403), 45, 0, 108, 450.0, (9, 12)),  # last row and column shifted inward
    ((1000, 1000), 100, 50, 361, 500.0, (19, 19)),  # windows half overlapping
    ((451, 451), 45, 0, 121, 450.0, (11, 11)),  # last column 1 px from its neighbour
])
def test_every_mosaic_window_gets_its_own_pixel(tmp_path, size, window_px, overlap_px, n_tiles,
                                                res_m, shape):
    boxes = window_boxes(*size, window_px, overlap_px)
    src, band, at_centres, pixels = burnt(tmp_path, boxes)
    assert len(boxes) == n_tiles
    assert (src.res, band.shape) == ((res_m, res_m), shape)
    np.testing.assert_array_equal(at_centres, np.arange(n_tiles))
    assert np.isfinite(band).sum() == n_tiles and pixels.shared == 0


def test_non_square_tiles_get_their_own_width_and_height(tmp_path):
    boxes = [(500000 + 400 * c, 9000000 - 200 * (r + 1), 500000 + 400 * (c + 1),
              9000000 - 200 * r) for r in range(4) for c in range(3)]
    src, band, at_centres, _ = burnt(tmp_path, boxes)
    assert src.res == (400.0, 200.0) and band.shape == (4, 3)
    assert src.bounds == pytest.approx((500000, 9000000 - 800, 500000 + 1200, 9000000))
    np.testing.assert_array_equal(band.ravel(), np.arange(12))
    np.testing.assert_array_equal(at_centres, np.arange(12))


def test_tiles_sharing_a_pixel_are_averaged_counted_and_warned_about(tmp_path, caplog):
    boxes = [(500000, 8999000, 501000, 9000000), (501000, 8999000, 502000, 9000000),
             (501000, 8999000, 502000, 9000000)]  # the same place twice: values 1 and 2
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        _, band, at_centres, pixels = burnt(tmp_path, boxes)
    assert pixels.shared == 2
    np.testing.assert_array_equal(band, [[0.0, 1.5]])
    np.testing.assert_array_equal(at_centres, [0.0, 1.5, 1.5])
    assert "2 of 3 tiles share a pixel with another tile" in caplog.text
