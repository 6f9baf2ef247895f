"""Roads on the world image: paved main roads, rural dirt tracks, and town street grids.

Paved roads follow the layout's road network (dark asphalt with a light verge). Dirt tracks are
the contour lines of a smooth random field, broken into pieces, over rural land. Towns get a grid
of streets aligned with the building sites (see :mod:`pipeline.demo.buildings`), paved where the
town is rich and dirt otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.demo.fields import fine_noise, rasterise
from pipeline.demo.scene import Scene

ASPHALT = np.array([74, 74, 78], np.float32)
VERGE = np.array([156, 150, 140], np.float32)
DIRT = np.array([184, 138, 96], np.float32)
PAVED_STREET = np.array([98, 97, 100], np.float32)

TRACK_LEVELS = 1.2
"""Contour levels per unit of the track field; more levels, more (parallel) tracks."""

SITE_PX = 5
"""Side of a building site, pixels; town streets run along site edges."""


@dataclass(frozen=True)
class RoadMasks:
    """Where roads were drawn, each (H, W) bool.

    Attributes:
        paved: Main roads, verge included.
        tracks: Rural dirt tracks.
    """

    paved: np.ndarray
    tracks: np.ndarray


def draw_roads(img: np.ndarray, scene: Scene, rng: np.random.Generator) -> RoadMasks:
    """Paint main roads and dirt tracks into ``img`` in place.

    Args:
        img: (H, W, 3) float32 RGB image of the world.
        scene: Pixel-resolution state of the world.
        rng: Random source.

    Returns:
        The masks of what was drawn (buildings avoid them).
    """
    m = 4
    shape = scene.shape
    centre = rasterise(scene.layout.roads, (shape[0] + 2 * m, shape[1] + 2 * m), -m, 1.0)
    dist = ndimage.distance_transform_edt(~centre)[m:-m, m:-m] if centre.any() else np.full(shape, np.inf)
    tracks = _tracks(scene, rng) & (dist > 2.5)
    img[tracks] = img[tracks] * 0.15 + DIRT * rng.normal(0.85, 0.05, (int(tracks.sum()), 1))
    verge = (dist > 0.5) & (dist <= 1.5)
    core = dist <= 0.5
    img[verge] = VERGE
    img[core] = ASPHALT
    return RoadMasks(verge | core, tracks)


def _tracks(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """Contour lines of a smooth field, about 1 px wide, kept in pieces over rural land."""
    shape = scene.shape
    field = fine_noise(shape, rng, 45.0)
    grad = np.hypot(*np.gradient(field))
    line = np.abs(np.sin(np.pi * TRACK_LEVELS * field)) < np.pi * TRACK_LEVELS * grad * 0.5
    pieces = fine_noise(shape, rng, 12.0) > 0.1
    return line & pieces & (scene.urban < 0.5) & ~scene.water & ~scene.shore


def draw_streets(img: np.ndarray, scene: Scene, rng: np.random.Generator) -> None:
    """Paint each town's street grid (1 px lines along building-site edges) into ``img`` in place.

    Streets are paved with probability rising with wealth (per street segment), dirt otherwise.
    """
    h, w = scene.shape
    paved_noise = fine_noise(scene.shape, rng, 12.0)
    for town in scene.layout.towns:
        spacing = town.street_blocks * SITE_PX
        reach = 1.5 * town.radius_px
        r0, r1 = int(max(town.row - reach, 0)), int(min(town.row + reach + 1, h))
        c0, c1 = int(max(town.col - reach, 0)), int(min(town.col + reach + 1, w))
        if r0 >= r1 or c0 >= c1:
            continue
        rows, cols = np.ogrid[r0:r1, c0:c1]
        inside = scene.urban[r0:r1, c0:c1] > 0.6
        phase = int(rng.integers(0, town.street_blocks)) * SITE_PX
        on_grid = ((rows - phase) % spacing == 0) | ((cols - phase) % spacing == 0)
        street = inside & on_grid & ~scene.water[r0:r1, c0:c1]
        paved = (scene.wealth[r0:r1, c0:c1] + 0.6 * paved_noise[r0:r1, c0:c1]) > 1.3
        window = img[r0:r1, c0:c1]
        window[street & paved] = PAVED_STREET
        window[street & ~paved] = DIRT
