"""Draw the world image and cut it into GeoTIFF tiles.

The whole world is drawn as one (H, W, 3) image (ground, roads, buildings, streets, then the
sensor's clouds and noise) and written tile by tile as
``tiles/tile_r{row:03d}_c{col:03d}.tif``: 3-band uint8 RGB, ``tile_size_px`` square, north-up,
in ``spec.crs``, deflate-compressed, band descriptions ``red``, ``green``, ``blue``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin
from tqdm import tqdm

from pipeline.demo.buildings import draw_buildings
from pipeline.demo.landcover import draw_ground
from pipeline.demo.roads import draw_roads, draw_streets
from pipeline.demo.scene import Scene
from pipeline.demo.sensor import expose
from pipeline.demo.spec import WorldGrid, stream

TILE_PATTERN = "tile_r{row:03d}_c{col:03d}.tif"
BAND_NAMES = ("red", "green", "blue")


def render(scene: Scene) -> np.ndarray:
    """Draw the whole world as the satellite sees it.

    Args:
        scene: Pixel-resolution state of the world.

    Returns:
        (H, W, 3) uint8 RGB image, row 0 at the north edge.
    """
    spec = scene.grid.spec
    img = draw_ground(scene, stream(spec, "ground"))
    roads = draw_roads(img, scene, stream(spec, "roads"))
    draw_buildings(img, scene, roads, stream(spec, "buildings"))
    draw_streets(img, scene, stream(spec, "streets"))
    return expose(img, scene.grid, stream(spec, "sensor"))


def tile_path(tiles_dir: Path, row: int, col: int) -> Path:
    """Path of the tile at ``row`` (0 = north) and ``col`` (0 = west)."""
    return tiles_dir / TILE_PATTERN.format(row=row, col=col)


def write_tiles(image: np.ndarray, grid: WorldGrid, tiles_dir: Path, *, progress: bool = True) -> int:
    """Write the world image as one GeoTIFF per tile.

    Args:
        image: (H, W, 3) uint8 RGB world image.
        grid: The world's grid (tile size, CRS, origin, pixel size).
        tiles_dir: Folder to write into (created if absent).
        progress: Show a progress bar when attached to a terminal.

    Returns:
        Number of tiles written.
    """
    spec = grid.spec
    ts, gsd = spec.tile_size_px, spec.gsd_m
    tiles_dir.mkdir(parents=True, exist_ok=True)
    cells = [(r, c) for r in range(spec.n_tiles_y) for c in range(spec.n_tiles_x)]
    bar = tqdm(cells, desc="demo tiles", unit="tile", disable=None if progress else True)
    for row, col in bar:
        window = image[row * ts : (row + 1) * ts, col * ts : (col + 1) * ts]
        transform = from_origin(spec.origin_x_m + col * ts * gsd, spec.origin_y_m - row * ts * gsd, gsd, gsd)
        profile = dict(
            driver="GTiff", width=ts, height=ts, count=3, dtype="uint8", crs=spec.crs,
            transform=transform, compress="deflate", interleave="pixel",
        )
        with rasterio.open(tile_path(tiles_dir, row, col), "w", **profile) as dst:
            dst.write(np.moveaxis(window, -1, 0))
            for band, name in enumerate(BAND_NAMES, start=1):
                dst.set_band_description(band, name)
    return len(cells)
