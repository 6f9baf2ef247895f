"""Writing Cloud-Optimized GeoTIFFs: block sizes, overviews, the layout a COG reader relies on."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from pipeline.geo.cog import cog_problems, write_cog

TRANSFORM = Affine(15, 0, 500_000, 0, -15, 9_000_000)


@pytest.mark.parametrize("side, block, overviews", [
    (64, 64, []), (100, 112, []), (130, 128, [2]), (1500, 256, [2, 4, 8]),
])
def test_a_cog_of_any_size_is_valid_and_keeps_its_values(tmp_path, side, block, overviews):
    bands = np.random.default_rng(side).random((2, side, side)).astype(np.float32)
    bands[0, 0, 0] = np.nan
    path = tmp_path / "x.tif"
    write_cog(path, bands, "EPSG:32736", TRANSFORM, ["a", "b"], tags={"DATE": "2021"})
    assert cog_problems(path) == []
    with rasterio.open(path) as src:
        assert src.block_shapes[0] == (block, block) and src.overviews(1) == overviews
        np.testing.assert_array_equal(src.read(), bands)
        assert src.descriptions == ("a", "b") and src.tags()["DATE"] == "2021"


def test_a_plain_geotiff_is_not_called_a_cog(tmp_path):
    path = tmp_path / "plain.tif"
    with rasterio.open(path, "w", driver="GTiff", width=64, height=64, count=1,
                       dtype="float32", crs="EPSG:32736", transform=TRANSFORM) as dst:
        dst.write(np.zeros((1, 64, 64), np.float32))
    assert cog_problems(path) == ["no COG layout marker (not written by GDAL's COG driver)",
                                  "not tiled in 16-multiple blocks (blocks 32x64)",
                                  "not compressed"]  # strips of 32 rows
