"""Where the world's features are: a river, a city, small towns and the roads between them.

All geometry is in fine-pixel coordinates ``(row, col)`` of the world image (see
:mod:`pipeline.demo.spec`); polylines are sampled about every pixel so that rasterising their
vertices draws a connected line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.demo.spec import PAD_M, WorldGrid, stream

KM_PER_TOWN = 200.0
"""Square kilometres of (real-size) world per small town."""


@dataclass(frozen=True)
class Town:
    """One settlement.

    Attributes:
        row: Centre row, fine pixels.
        col: Centre column, fine pixels.
        radius_px: Radius of the urban footprint (built-up area, urban survey stratum), pixels.
        decay_px: e-folding length of its wealth bump, pixels.
        amplitude: Wealth bump at the centre, in units of the unstandardised wealth field.
        is_city: True for the one city.
        street_blocks: Street spacing in building sites (see :mod:`pipeline.demo.buildings`).
    """

    row: float
    col: float
    radius_px: float
    decay_px: float
    amplitude: float
    is_city: bool
    street_blocks: int


@dataclass(frozen=True)
class Layout:
    """The world's features.

    Attributes:
        towns: The city first, then the small towns.
        roads: Main (paved) roads, each an (n, 2) float64 polyline of ``(row, col)`` pixels.
        river: The river's centre line, an (n, 2) float64 polyline of ``(row, col)`` pixels.
        river_width_px: River width, pixels.
    """

    towns: tuple[Town, ...]
    roads: tuple[np.ndarray, ...]
    river: np.ndarray
    river_width_px: float


def make_layout(grid: WorldGrid) -> Layout:
    """Draw the river, the towns and the road network of the world of ``grid``."""
    rng = stream(grid.spec, "layout")
    river = _river(grid, rng)
    towns = _towns(grid, rng, river)
    roads = _roads(grid, rng, towns)
    return Layout(tuple(towns), tuple(roads), river, float(rng.uniform(4.0, 7.0)))


def wiggly_line(
    start: np.ndarray, end: np.ndarray, rng: np.random.Generator, rel_amp: float, harmonics: int
) -> np.ndarray:
    """A meandering polyline from ``start`` to ``end`` sampled every ~0.5 pixel.

    The line is displaced sideways by a sum of sine harmonics that vanish at both ends, with
    amplitude ``rel_amp * length / k`` for harmonic ``k``.

    Args:
        start: ``(row, col)`` pixels.
        end: ``(row, col)`` pixels.
        rng: Random source.
        rel_amp: Sideways amplitude relative to the length.
        harmonics: Number of sine harmonics.

    Returns:
        (n, 2) float64 vertices, ``(row, col)`` pixels.
    """
    start, end = np.asarray(start, float), np.asarray(end, float)
    length = float(np.hypot(*(end - start)))
    n = max(2, int(math.ceil(length * 2.0)) + 1)
    t = np.linspace(0.0, 1.0, n)
    k = np.arange(1, harmonics + 1)
    amps = rng.normal(0.0, rel_amp * length / k)
    offset = np.sin(np.pi * np.outer(t, k)) @ amps
    direction = (end - start) / max(length, 1e-9)
    normal = np.array([-direction[1], direction[0]])
    line = start + np.outer(t, end - start) + np.outer(offset, normal)
    return _resample(line)


def _resample(line: np.ndarray, step: float = 0.5) -> np.ndarray:
    """Resample a polyline to vertices ``step`` pixels apart along its length."""
    seg = np.hypot(*np.diff(line, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(seg)])
    targets = np.arange(0.0, along[-1] + step, step)
    return np.column_stack([np.interp(targets, along, line[:, i]) for i in range(2)])


def _river(grid: WorldGrid, rng: np.random.Generator) -> np.ndarray:
    pad = PAD_M / grid.spec.gsd_m
    h, w = grid.height_px, grid.width_px
    a, b = rng.uniform(0.15, 0.85, size=2)
    if rng.random() < 0.5:  # north to south
        start, end = np.array([-pad, a * w]), np.array([h + pad, b * w])
    else:  # west to east
        start, end = np.array([a * h, -pad]), np.array([b * h, w + pad])
    return wiggly_line(start, end, rng, rel_amp=0.05, harmonics=10)


def _distance_to(points: np.ndarray, row: float, col: float) -> float:
    return float(np.min(np.hypot(points[:, 0] - row, points[:, 1] - col)))


def _towns(grid: WorldGrid, rng: np.random.Generator, river: np.ndarray) -> list[Town]:
    h, w = grid.height_px, grid.width_px
    area_km2 = h * w * grid.spec.gsd_m**2 / 1e6 / grid.scale**2
    n_small = int(np.clip(round(area_km2 / KM_PER_TOWN), 3, 40))
    towns: list[Town] = []
    for attempt in range(60 * (n_small + 1)):
        if len(towns) == n_small + 1:
            break
        city = not towns
        lo, hi = (0.3, 0.7) if city else (0.04, 0.96)
        row, col = rng.uniform(lo, hi) * h, rng.uniform(lo, hi) * w
        spacing = grid.px(5000.0 if attempt < 40 * (n_small + 1) else 2500.0)
        if _distance_to(river, row, col) < grid.px(500.0):
            continue
        if any(math.hypot(t.row - row, t.col - col) < spacing for t in towns):
            continue
        towns.append(_make_town(grid, rng, row, col, city))
    return towns


def _make_town(grid: WorldGrid, rng: np.random.Generator, row: float, col: float, city: bool) -> Town:
    if city:
        radius_m, amplitude, blocks = rng.uniform(2000.0, 2600.0), rng.uniform(2.8, 3.3), 3
    else:
        radius_m, amplitude, blocks = rng.uniform(550.0, 1000.0), rng.uniform(1.3, 2.0), 4
    decay_m = radius_m * (1.2 if city else 1.4)
    return Town(row, col, grid.px(radius_m), grid.px(decay_m), float(amplitude), city, blocks)


def _roads(grid: WorldGrid, rng: np.random.Generator, towns: list[Town]) -> list[np.ndarray]:
    centres = np.array([[t.row, t.col] for t in towns])
    edges = _spanning_tree(centres)
    roads = [wiggly_line(centres[i], centres[j], rng, 0.05, 3) for i, j in edges]
    reach = 2.0 * max(grid.height_px, grid.width_px)
    pad = PAD_M / grid.spec.gsd_m
    low = np.array([-pad, -pad])
    high = np.array([grid.height_px + pad, grid.width_px + pad])
    for angle in rng.uniform(0.0, 2.0 * np.pi) + np.array([0.0, rng.uniform(0.6, 1.4) * np.pi]):
        far = np.clip(centres[0] + reach * np.array([np.sin(angle), np.cos(angle)]), low, high)
        roads.append(wiggly_line(centres[0], far, rng, 0.03, 3))
    return roads


def _spanning_tree(points: np.ndarray) -> list[tuple[int, int]]:
    """Edges of the Euclidean minimum spanning tree of ``points`` (Prim), from point 0."""
    n = len(points)
    dist = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    in_tree = np.zeros(n, bool)
    in_tree[0] = True
    edges = []
    for _ in range(n - 1):
        d = np.where(in_tree[:, None] & ~in_tree[None, :], dist, np.inf)
        i, j = np.unravel_index(int(np.argmin(d)), d.shape)
        edges.append((int(i), int(j)))
        in_tree[j] = True
    return edges
