"""Latent fields of a demo world: wealth, water, urban footprint and building density.

The fields live on the coarse grid of :class:`~pipeline.demo.spec.WorldGrid` (``COARSE_FACTOR``
pixels per cell, margin included) and are interpolated to pixels where drawing needs them.
Wealth ``W`` is a smooth multi-scale Gaussian random field plus exponential bumps around the city
and towns and a ridge along the main roads, standardised to mean 0 and standard deviation 1 over
the world's land (margin excluded). Everything else the world shows derives from ``W``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.demo.layout import Layout
from pipeline.demo.spec import COARSE_FACTOR, WorldGrid, stream

NOISE_SCALES_M = ((1000.0, 0.45), (3000.0, 0.6), (8000.0, 0.65))
"""(correlation length in metres, weight) of the Gaussian random field's components."""

ROAD_BUMP = 0.5
"""Wealth added on a main road (unstandardised units), decaying over ROAD_DECAY_M."""

ROAD_DECAY_M = 600.0

POPULATION_EXPONENT = 0.5
"""Population density is building density to this power (people per building fall with wealth)."""


@dataclass(frozen=True)
class LatentFields:
    """The world's latent state on the coarse grid (margin included).

    Attributes:
        wealth: (rows, cols) float32, standardised wealth ``W`` (mean 0, sd 1 over world land).
        water: (rows, cols) bool, river cells.
        urban: (rows, cols) bool, cells inside a town's (irregular) urban footprint;
            ``townness >= 0.5``.
        townness: (rows, cols) float32 in [0, 1]: 1 in town centres, 0.5 on the footprint's
            edge, falling to 0 at about 1.5 town radii (built-up outskirts).
        density: (rows, cols) float32 in [0, 1], probability that a building site is built on
            (0 on water).
        population: (rows, cols) float32, relative population density (0 on water):
            ``density ** POPULATION_EXPONENT``, since poorer households are larger and own fewer
            and smaller buildings.
    """

    wealth: np.ndarray
    water: np.ndarray
    urban: np.ndarray
    townness: np.ndarray
    density: np.ndarray
    population: np.ndarray


def building_density(wealth: np.ndarray) -> np.ndarray:
    """Share of building sites built on, rising smoothly with wealth.

    About 0.04 at W = -2, 0.08 at W = -1, 0.15 at W = 0, 0.43 at W = 2 and 0.7 at W = 4: sparse
    rural hamlets, dense towns, and a steady rise across the poor range.

    Args:
        wealth: Standardised wealth, any shape.

    Returns:
        Float32 array of the same shape, values in (0, 0.8).
    """
    return (0.8 / (1.0 + np.exp(-0.8 * (np.asarray(wealth) - 1.8)))).astype(np.float32)


def make_fields(grid: WorldGrid, layout: Layout) -> LatentFields:
    """Compute the latent fields of the world described by ``grid`` and ``layout``."""
    rng = stream(grid.spec, "fields")
    raw = sum(w * smooth_noise(grid, rng, scale_m) for scale_m, w in NOISE_SCALES_M)
    rows, cols = grid.cell_centres_px()
    edge_noise = smooth_noise(grid, rng, 500.0)
    townness = np.zeros(grid.coarse_shape)
    for town in layout.towns:
        dist = np.hypot(rows[:, None] - town.row, cols[None, :] - town.col)
        raw = raw + town.amplitude * np.exp(-dist / town.decay_px)
        townness = np.maximum(townness, 1.5 - dist / town.radius_px + 0.3 * edge_noise)
    road_dist = lines_distance_px(grid, layout.roads)
    raw = raw + ROAD_BUMP * np.exp(-road_dist / grid.px(ROAD_DECAY_M))
    water = lines_distance_px(grid, [layout.river]) < layout.river_width_px / 2.0 + 1.0
    land = interior(grid, ~water)
    inner = interior(grid, raw)[land]
    wealth = ((raw - inner.mean()) / inner.std()).astype(np.float32)
    density = np.where(water, 0.0, building_density(wealth)).astype(np.float32)
    townness = np.where(water, 0.0, np.clip(townness, 0.0, 1.0)).astype(np.float32)
    population = (density**POPULATION_EXPONENT).astype(np.float32)
    return LatentFields(wealth, water, townness >= 0.5, townness, density, population)


def smooth_noise(grid: WorldGrid, rng: np.random.Generator, scale_m: float) -> np.ndarray:
    """Gaussian random field with unit variance and correlation length ``scale_m`` (miniaturised).

    White noise on a grid a third of the scale is Gaussian-filtered, divided by its exact
    theoretical standard deviation (so small worlds keep large-scale fields nearly constant),
    and interpolated to the coarse cells.

    Returns:
        (rows, cols) float64 on the coarse grid.
    """
    sigma_px = grid.px(scale_m)
    step_px = max(sigma_px / 3.0, float(COARSE_FACTOR))
    sigma = sigma_px / step_px
    rows, cols = grid.cell_centres_px()
    border = 4.0 * sigma_px + step_px
    r0, c0 = rows[0] - border, cols[0] - border
    shape = (int((rows[-1] - r0 + border) / step_px) + 2, int((cols[-1] - c0 + border) / step_px) + 2)
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode="reflect")
    delta = np.zeros(int(8 * sigma) * 2 + 1)
    delta[len(delta) // 2] = 1.0
    kernel = ndimage.gaussian_filter1d(delta, sigma)
    noise /= np.sum(kernel**2)
    return resample_bilinear(noise, (rows - r0) / step_px, (cols - c0) / step_px)


def resample_bilinear(values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of a 2-D array on a separable grid of fractional indices.

    Args:
        values: (m, n) array.
        rows: (p,) fractional row indices into ``values``; clamped to [0, m - 1].
        cols: (q,) fractional column indices into ``values``; clamped to [0, n - 1].

    Returns:
        (p, q) array of ``values``' dtype (float64 for integer input).
    """
    values = np.asarray(values)
    out = _interp_axis(values, rows, axis=0)
    return _interp_axis(out, cols, axis=1)


def _interp_axis(values: np.ndarray, idx: np.ndarray, axis: int) -> np.ndarray:
    n = values.shape[axis]
    idx = np.clip(np.asarray(idx, float), 0.0, n - 1.0)
    lo = np.minimum(np.floor(idx).astype(np.intp), max(n - 2, 0))
    hi = np.minimum(lo + 1, n - 1)
    frac = (idx - lo).astype(values.dtype if values.dtype.kind == "f" else np.float64)
    shape = [1, 1]
    shape[axis] = -1
    frac = frac.reshape(shape)
    a, b = np.take(values, lo, axis=axis), np.take(values, hi, axis=axis)
    return a + (b - a) * frac


def to_fine(grid: WorldGrid, coarse: np.ndarray) -> np.ndarray:
    """Interpolate a coarse field to every pixel of the world image.

    Args:
        grid: The world's grid.
        coarse: (rows, cols) array on the coarse grid (margin included).

    Returns:
        (height_px, width_px) float32 array.
    """
    rows = (np.arange(grid.height_px) + 0.5) / COARSE_FACTOR - 0.5 + grid.pad_cells
    cols = (np.arange(grid.width_px) + 0.5) / COARSE_FACTOR - 0.5 + grid.pad_cells
    return resample_bilinear(np.asarray(coarse, np.float32), rows, cols)


def interior(grid: WorldGrid, coarse: np.ndarray) -> np.ndarray:
    """The part of a coarse field that lies inside the world (margin removed)."""
    p = grid.pad_cells
    return coarse[p : coarse.shape[0] - p, p : coarse.shape[1] - p]


def rasterise(
    lines: list[np.ndarray] | tuple[np.ndarray, ...], shape: tuple[int, int], origin_px: float, step_px: float
) -> np.ndarray:
    """Mark the cells of a grid that contain a vertex of any polyline.

    Args:
        lines: Polylines of ``(row, col)`` fine pixels, sampled finer than ``step_px``.
        shape: Grid shape ``(rows, cols)``.
        origin_px: Fine-pixel coordinate of the grid's upper-left corner (both axes).
        step_px: Cell size in fine pixels.

    Returns:
        (rows, cols) bool mask.
    """
    mask = np.zeros(shape, bool)
    for line in lines:
        idx = np.floor((line - origin_px) / step_px).astype(np.intp)
        ok = (idx[:, 0] >= 0) & (idx[:, 0] < shape[0]) & (idx[:, 1] >= 0) & (idx[:, 1] < shape[1])
        mask[idx[ok, 0], idx[ok, 1]] = True
    return mask


def lines_distance_px(grid: WorldGrid, lines: list[np.ndarray] | tuple[np.ndarray, ...]) -> np.ndarray:
    """Distance from each coarse cell centre to the nearest polyline, fine pixels (float32)."""
    mask = rasterise(lines, grid.coarse_shape, -grid.pad_cells * COARSE_FACTOR, COARSE_FACTOR)
    if not mask.any():
        return np.full(grid.coarse_shape, np.inf, np.float32)
    return (ndimage.distance_transform_edt(~mask) * COARSE_FACTOR).astype(np.float32)


def fine_noise(shape: tuple[int, int], rng: np.random.Generator, sigma_px: float) -> np.ndarray:
    """Smooth noise at pixel resolution with unit (empirical) variance.

    White noise on a grid of step ``max(1, sigma_px / 3)`` pixels is Gaussian-filtered and
    interpolated to every pixel; cheap even for large images and large ``sigma_px``.

    Args:
        shape: ``(rows, cols)`` of the output.
        rng: Random source.
        sigma_px: Correlation length in pixels.

    Returns:
        (rows, cols) float32, mean ~0, standard deviation 1.
    """
    step = max(1.0, sigma_px / 3.0)
    small = (int(shape[0] / step) + 3, int(shape[1] / step) + 3)
    noise = ndimage.gaussian_filter(rng.standard_normal(small, dtype=np.float32), sigma_px / step)
    out = resample_bilinear(noise, (np.arange(shape[0]) + 0.5) / step, (np.arange(shape[1]) + 0.5) / step)
    return ((out - out.mean()) / max(float(out.std()), 1e-12)).astype(np.float32)
