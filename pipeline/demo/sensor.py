"""What the satellite adds: clouds with their shadows, per-scene brightness, sensor noise.

About 5-10 % of tiles are partly under a soft cloud; each tile gets a slight brightness factor
(as if mosaicked from different scenes); every pixel gets Gaussian noise; values are rounded
and clipped to uint8.
"""

from __future__ import annotations

import numpy as np

from pipeline.demo.fields import fine_noise
from pipeline.demo.spec import WorldGrid

CLOUDS_PER_TILE = 0.018
"""Expected number of cloud blobs per tile."""

NOISE_DN = 2.5
"""Standard deviation of per-pixel sensor noise, digital numbers."""


def cloud_cover(grid: WorldGrid, rng: np.random.Generator) -> np.ndarray:
    """Cloud opacity over the world image.

    Each cloud is a soft elliptical blob (radius 0.25-0.7 tile) with a billowy texture.

    Returns:
        (H, W) float32 opacity in [0, 0.97]; 0 where clear.
    """
    shape = (grid.height_px, grid.width_px)
    spec = grid.spec
    n = rng.poisson(CLOUDS_PER_TILE * spec.n_tiles_x * spec.n_tiles_y)
    clear = np.ones(shape, np.float32)
    if n == 0:
        return 1.0 - clear
    texture = 0.7 + 0.3 * fine_noise(shape, rng, 5.0)
    for _ in range(n):
        row, col = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        radius = rng.uniform(0.25, 0.7) * spec.tile_size_px
        stretch = rng.uniform(0.6, 1.6)
        r0, r1 = int(max(row - 2.5 * radius, 0)), int(min(row + 2.5 * radius, shape[0]))
        c0, c1 = int(max(col - 2.5 * radius * stretch, 0)), int(min(col + 2.5 * radius * stretch, shape[1]))
        rr, cc = np.ogrid[r0:r1, c0:c1]
        d2 = ((rr - row) / radius) ** 2 + ((cc - col) / (radius * stretch)) ** 2
        blob = np.clip(1.3 * np.exp(-d2) * texture[r0:r1, c0:c1], 0.0, 0.97)
        clear[r0:r1, c0:c1] *= 1.0 - blob
    return 1.0 - clear


def expose(img: np.ndarray, grid: WorldGrid, rng: np.random.Generator) -> np.ndarray:
    """Turn the drawn ground into a sensor image: clouds, shadows, brightness, noise.

    Args:
        img: (H, W, 3) float32 RGB ground image.
        grid: The world's grid.
        rng: Random source.

    Returns:
        (H, W, 3) uint8 RGB image.
    """
    clouds = cloud_cover(grid, rng)
    shift = max(2, grid.spec.tile_size_px // 8)
    shadow = np.zeros_like(clouds)
    shadow[shift:, shift:] = clouds[:-shift, :-shift]
    img = img * (1.0 - 0.5 * shadow)[..., None]
    grey = (232.0 - 18.0 * fine_noise(clouds.shape, rng, 4.0))[..., None]
    img = img * (1.0 - clouds[..., None]) + grey * clouds[..., None]
    ts = grid.spec.tile_size_px
    factor = rng.normal(1.0, 0.035, (grid.spec.n_tiles_y, grid.spec.n_tiles_x)).astype(np.float32)
    img *= np.repeat(np.repeat(factor, ts, axis=0), ts, axis=1)[..., None]
    img += NOISE_DN * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
