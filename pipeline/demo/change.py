"""A change planted between two years of one demo world: a new town, or a new paved road.

The world with ``WorldSpec.plant`` set is drawn twice, without and with the planted feature;
its image takes the planted drawing inside the planted area (the feature plus a margin reaching
as far as its wealth bump visibly changes buildings) and the plain drawing everywhere else, so
its tiles outside that area are byte-identical to the world of the same spec without ``plant``.
``world.json`` records the planted area's tiles (``planted.tiles``), the truth a change map is
checked against.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from pipeline.demo.fields import rasterise
from pipeline.demo.layout import Layout, Town, wiggly_line
from pipeline.demo.spec import WorldGrid, stream

TOWN_RADIUS_M = 900.0
TOWN_DECAY_M = 1200.0
TOWN_AMPLITUDE = 1.8
ROAD_LENGTH = 0.4
"""The planted road's length as a share of the world's width."""
MARGIN_M = 1500.0
"""Planted area: pixels within this distance (miniaturised) of the town centre's footprint or
of the road."""
TILE_SHARE = 0.25
"""A tile is in the planted area when at least this share of its pixels is."""


@dataclass(frozen=True)
class Planted:
    """The planted feature.

    Attributes:
        layout: the world's layout with the feature added.
        mask: (H, W) bool, the planted area (fine pixels, row 0 north).
    """

    layout: Layout
    mask: np.ndarray

    def tiles(self, grid: WorldGrid) -> np.ndarray:
        """(n_tiles_y, n_tiles_x) bool: the tiles mostly inside the planted area."""
        spec = grid.spec
        ts = spec.tile_size_px
        share = self.mask.reshape(spec.n_tiles_y, ts, spec.n_tiles_x, ts).mean(axis=(1, 3))
        return share >= TILE_SHARE


def plant_change(grid: WorldGrid, layout: Layout) -> Planted:
    """Add ``grid.spec.plant`` at ``(plant_x, plant_y)`` to ``layout``."""
    spec = grid.spec
    row, col = spec.plant_y * grid.height_px, spec.plant_x * grid.width_px
    shape = (grid.height_px, grid.width_px)
    if spec.plant == "town":
        town = Town(row, col, grid.px(TOWN_RADIUS_M), grid.px(TOWN_DECAY_M), TOWN_AMPLITUDE,
                    False, 4)
        rows, cols = np.ogrid[: shape[0], : shape[1]]
        mask = np.hypot(rows - row, cols - col) <= town.radius_px + grid.px(MARGIN_M)
        return Planted(replace(layout, towns=(*layout.towns, town)), mask)
    end = np.array([row, min(col + ROAD_LENGTH * grid.width_px, grid.width_px - 1.0)])
    road = wiggly_line(np.array([row, col]), end, stream(spec, "planted road"), 0.02, 2)
    line = rasterise([road], shape, 0, 1.0)
    mask = ndimage.distance_transform_edt(~line) <= grid.px(MARGIN_M)
    return Planted(replace(layout, roads=(*layout.roads, road)), mask)
