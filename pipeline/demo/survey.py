"""A DHS/LSMS-like household survey of a demo world.

Clusters are drawn proportional to population, stratified like DHS (about a quarter urban, i.e.
inside a town footprint). Each cluster's outcomes come from its local wealth (the mean of ``W``
over land within ``LOCAL_RADIUS_M`` of its TRUE location) plus cluster and household noise:

* ``consumption_pc_day``: mean over ``n_households`` households of per-capita consumption,
  USD 2011 PPP per day, log-normal around ``CONSUMPTION_MEDIAN * exp(g(z))``, ``g`` piecewise linear
  (``CONSUMPTION_CURVE``: slope 0.55 below 0, 0.7 up to 2, 0.4 above);
* ``asset_index``: mean household asset score (linear and quadratic in ``z``, plus an urban
  effect), standardised over clusters.

Published coordinates are displaced like DHS (urban up to 2 km, rural up to 5 km, 1 % of rural
up to 10 km; uniform direction and distance; redrawn until inside the world), and two extra
clusters carry DHS's missing-GPS marker ``lat = lon = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyproj import Transformer
from scipy import ndimage, signal

from pipeline.demo.fields import LatentFields, interior
from pipeline.demo.spec import COARSE_FACTOR, WorldGrid, stream

LOCAL_RADIUS_M = 1500.0
URBAN_SHARE = (0.22, 0.28)
CONSUMPTION_MEDIAN = 1.4
"""Household consumption at z = 0 before the log-normal spread (cluster medians ~2 USD/day)."""
CONSUMPTION_CURVE = ((-5.0, 0.0, 2.0, 6.0), (-2.75, 0.0, 1.4, 3.0))
"""Knots ``(z, log consumption gain)``: slope 0.7 for 0 < z < 2, flatter below (subsistence
floor) and above (a few very rich neighbourhoods should not reach 50 USD/day)."""
DISPLACEMENT_M = {"urban": 2000.0, "rural": 5000.0, "rural_far": 10000.0}
N_MISSING_GPS = 2
COLUMNS = (
    "cluster_id", "lat", "lon", "country", "year", "urban",
    "n_households", "consumption_pc_day", "asset_index",
)


@dataclass(frozen=True)
class Survey:
    """The survey table and the truth behind it.

    Attributes:
        table: One row per cluster, ``COLUMNS``; ``N_MISSING_GPS`` rows have lat = lon = 0.
        true_x_m: (n,) float64 true cluster x in ``spec.crs`` (same row order as ``table``).
        true_y_m: (n,) float64 true cluster y in ``spec.crs``.
        displacement_m: (n,) float64 distance between true and published location (0 if missing).
        cap_m: (n,) float64 displacement cap that applied.
        wealth_local: (n,) float64 standardised local wealth ``z`` that drove the outcomes.
    """

    table: pd.DataFrame
    true_x_m: np.ndarray
    true_y_m: np.ndarray
    displacement_m: np.ndarray
    cap_m: np.ndarray
    wealth_local: np.ndarray


def local_wealth(grid: WorldGrid, fields: LatentFields) -> np.ndarray:
    """Mean wealth over land within ``LOCAL_RADIUS_M`` (miniaturised) of each coarse cell.

    Standardised with the population-weighted mean and standard deviation over the world's
    land, so ``z = 0`` is the typical person's neighbourhood.

    Returns:
        (rows, cols) float64 on the coarse grid.
    """
    radius = grid.px(LOCAL_RADIUS_M) / COARSE_FACTOR
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    disk = (np.hypot(yy, xx) <= max(radius, 0.5)).astype(float)
    land = (~fields.water).astype(float)
    total = signal.fftconvolve(fields.wealth * land, disk, mode="same")
    count = signal.fftconvolve(land, disk, mode="same")
    mean = total / np.maximum(count, 1e-6)
    weight = interior(grid, fields.population).astype(float)
    inner = interior(grid, mean)
    mu = np.average(inner, weights=weight)
    sd = np.sqrt(np.average((inner - mu) ** 2, weights=weight))
    return (mean - mu) / sd


def make_survey(grid: WorldGrid, fields: LatentFields) -> Survey:
    """Draw the clusters, their outcomes and their published (displaced) coordinates."""
    spec = grid.spec
    rng = stream(spec, "survey")
    n = spec.n_clusters + N_MISSING_GPS
    rows, cols, urban = _sample_locations(grid, fields, rng, n)
    z_field = local_wealth(grid, fields)
    z = ndimage.map_coordinates(
        z_field, [rows / COARSE_FACTOR - 0.5 + grid.pad_cells, cols / COARSE_FACTOR - 0.5 + grid.pad_cells],
        order=1, mode="nearest",
    )
    n_hh = rng.integers(15, 31, n)
    consumption, assets = _outcomes(rng, z, urban, n_hh)
    x, y = grid.px_to_xy(rows, cols)
    dx, dy, cap = _displacement(grid, rng, x, y, urban)
    lon, lat = Transformer.from_crs(spec.crs, "EPSG:4326", always_xy=True).transform(x + dx, y + dy)
    missing = rng.choice(n, N_MISSING_GPS, replace=False)
    lat, lon = np.round(lat, 6), np.round(lon, 6)
    lat[missing], lon[missing] = 0.0, 0.0
    dist = np.hypot(dx, dy)
    dist[missing] = 0.0
    table = pd.DataFrame(
        {
            "cluster_id": [f"DM-{i + 1:04d}" for i in range(n)],
            "lat": lat, "lon": lon, "country": "Demoland", "year": spec.year,
            "urban": urban.astype(int), "n_households": n_hh,
            "consumption_pc_day": np.round(consumption, 4), "asset_index": np.round(assets, 4),
        },
        columns=list(COLUMNS),
    )
    return Survey(table, x, y, dist, cap, z)


def _sample_locations(
    grid: WorldGrid, fields: LatentFields, rng: np.random.Generator, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True cluster locations (fine-pixel rows, cols) and urban flags, in random order."""
    population = interior(grid, fields.population).astype(float)
    urban = interior(grid, fields.urban)
    n_urban = min(int(round(n * rng.uniform(*URBAN_SHARE))), int(np.count_nonzero(urban & (population > 0))))
    cells = []
    for stratum, k in ((urban, n_urban), (~urban, n - n_urban)):
        weight = np.where(stratum, population, 0.0).ravel()
        replace = k > np.count_nonzero(weight)
        cells.append(rng.choice(weight.size, size=k, replace=replace, p=weight / weight.sum()))
    cell = np.concatenate(cells)
    is_urban = np.arange(n) < n_urban
    order = rng.permutation(n)
    cell, is_urban = cell[order], is_urban[order]
    crow, ccol = np.unravel_index(cell, population.shape)
    rows = np.minimum((crow + rng.random(n)) * COARSE_FACTOR, grid.height_px - 1e-3)
    cols = np.minimum((ccol + rng.random(n)) * COARSE_FACTOR, grid.width_px - 1e-3)
    return rows, cols, is_urban


def _outcomes(
    rng: np.random.Generator, z: np.ndarray, urban: np.ndarray, n_hh: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster means of household consumption (USD/day) and standardised asset index."""
    n, m = len(z), int(n_hh.max())
    sampled = np.arange(m)[None, :] < n_hh[:, None]
    log_c = (
        np.log(CONSUMPTION_MEDIAN) + np.interp(z, *CONSUMPTION_CURVE)[:, None]
        + rng.normal(0.0, 0.35, (n, 1)) + rng.normal(0.0, 0.7, (n, m))
    )
    consumption = np.where(sampled, np.exp(log_c), 0.0).sum(axis=1) / n_hh
    score = (
        0.9 * z[:, None] + 0.12 * z[:, None] ** 2 + 0.5 * urban[:, None]
        + rng.normal(0.0, 0.35, (n, 1)) + rng.normal(0.0, 0.9, (n, m))
    )
    assets = np.where(sampled, score, 0.0).sum(axis=1) / n_hh
    return consumption, (assets - assets.mean()) / assets.std()


def _displacement(
    grid: WorldGrid, rng: np.random.Generator, x: np.ndarray, y: np.ndarray, urban: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DHS-style offsets ``(dx, dy)`` in metres that keep every point inside the world."""
    n = len(x)
    far = rng.random(n) < 0.01
    rural_cap = np.where(far, DISPLACEMENT_M["rural_far"], DISPLACEMENT_M["rural"])
    cap = np.where(urban, DISPLACEMENT_M["urban"], rural_cap)
    cap = cap * grid.scale
    minx, miny, maxx, maxy = grid.bounds
    dx, dy = np.zeros(n), np.zeros(n)
    todo = np.ones(n, bool)
    for _ in range(10_000):
        k = int(todo.sum())
        if k == 0:
            break
        angle, dist = rng.uniform(0.0, 2.0 * np.pi, k), rng.uniform(0.0, 1.0, k) * cap[todo]
        dx[todo], dy[todo] = dist * np.cos(angle), dist * np.sin(angle)
        nx, ny = x + dx, y + dy
        todo = (nx <= minx) | (nx >= maxx) | (ny <= miny) | (ny >= maxy)
    dx[todo], dy[todo] = 0.0, 0.0  # practically unreachable: keep the true location
    return dx, dy, cap
