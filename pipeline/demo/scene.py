"""The latent fields at pixel resolution: what the drawing modules paint from."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.demo.fields import LatentFields, rasterise, to_fine
from pipeline.demo.layout import Layout
from pipeline.demo.spec import WorldGrid

MARGIN_PX = 8
"""Pixels beyond the world's edge searched for the river (it may pass just outside)."""


@dataclass(frozen=True)
class Scene:
    """Per-pixel state of the world image (``height_px`` x ``width_px``, row 0 north).

    Attributes:
        grid: The world's grid.
        layout: River, towns and roads.
        wealth: (H, W) float32 standardised wealth ``W``.
        urban: (H, W) float32 in [0, 1], townness (see :class:`~pipeline.demo.fields.LatentFields`);
            ``urban > 0.5`` is the urban footprint.
        water: (H, W) bool, river pixels.
        shore: (H, W) bool, the land pixels within ~1.5 px of the water.
    """

    grid: WorldGrid
    layout: Layout
    wealth: np.ndarray
    urban: np.ndarray
    water: np.ndarray
    shore: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """``(height_px, width_px)``."""
        return self.grid.height_px, self.grid.width_px


def make_scene(grid: WorldGrid, layout: Layout, fields: LatentFields) -> Scene:
    """Interpolate the latent fields to pixels and draw the river's exact outline."""
    shape = (grid.height_px, grid.width_px)
    m = MARGIN_PX
    centre = rasterise([layout.river], (shape[0] + 2 * m, shape[1] + 2 * m), -m, 1.0)
    half = layout.river_width_px / 2.0
    if centre.any():
        dist = ndimage.distance_transform_edt(~centre)[m:-m, m:-m]
    else:  # the river misses this (tiny) world
        dist = np.full(shape, np.inf)
    water = dist < half
    shore = ~water & (dist < half + 1.5)
    urban = np.clip(to_fine(grid, fields.townness), 0.0, 1.0)
    return Scene(grid, layout, to_fine(grid, fields.wealth), urban, water, shore)
