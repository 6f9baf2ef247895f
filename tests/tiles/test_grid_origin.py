"""The tile grid anchored at a given origin lines up with an existing raster's tiles."""

from __future__ import annotations

import pytest
from pyproj import Transformer

from pipeline.config.stac import StacConfig
from pipeline.tiles.area import area_tiles

CRS = "EPSG:32736"
TO_LONLAT = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


def test_grid_origin_shifts_the_tiles_onto_an_existing_grid():
    origin = (700_000.0, 8_510_000.0)  # the demo world's top-left corner, not a 960 m multiple
    point = TO_LONLAT.transform(700_000 + 2.5 * 960, 8_510_000 - 3.5 * 960)  # a tile's centre
    tiles = area_tiles([point], 0.1, None, 960.0, CRS, origin)
    assert [t.bounds for t in tiles] == [(701_920.0, 8_506_160.0, 702_880.0, 8_507_120.0)]
    assert tiles[0].tile_id == "e2_n-4"  # columns and rows counted from the origin
    default = area_tiles([point], 0.1, None, 960.0, CRS)
    assert default[0].bounds[0] % 960 == 0 and default[0].bounds != tiles[0].bounds


def test_region_on_an_origin_covers_exactly_its_tiles():
    origin = (700_000.0, 8_510_000.0)
    inner = (700_000 + 480, 8_510_000 - 3 * 960 + 480, 700_000 + 3 * 960 - 480, 8_510_000 - 480)
    region = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform_bounds(*inner)
    tiles = area_tiles([], 1.0, region, 960.0, CRS, origin)
    assert len(tiles) == 9 and tiles[0].bounds == (700_000.0, 8_509_040.0, 700_960.0, 8_510_000.0)


def test_grid_origin_needs_the_grid_crs():
    with pytest.raises(ValueError, match="grid_origin: set data.tiles.stac.crs"):
        StacConfig(url="http://x", collection="c", datetime="2020", assets=("a", "b", "c"),
                   grid_origin=(1.0, 2.0))
