"""Night-time lights of a demo world, written like a VIIRS annual composite.

Radiance (nW/cm²/sr) is zero below a wealth threshold (the poorest ``DARK_SHARE`` of the land
emits nothing) and grows exponentially above it; it is blurred (blooming, ~1 km Gaussian),
integrated over 15-arc-second pixels in EPSG:4326 covering the world plus ~2 km, multiplied by
log-normal noise, saturated softly towards ``CAP`` and offset by a noise floor (dark pixels read
about -0.05..0.1). 60 % of the land emits nothing and ~75 % of pixels read below 0.5, so
nightlights rank the rich well and cannot rank the poor.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin
from scipy import ndimage

from pipeline.demo.fields import LatentFields, interior
from pipeline.demo.spec import COARSE_FACTOR, WorldGrid, stream

RES_DEG = 1.0 / 240.0
"""Pixel size, degrees (15 arc-seconds, VIIRS DNB composites)."""

MARGIN_M = 2000.0
"""Margin around the world's bounds, metres."""

DARK_SHARE = 0.6
"""Share of the world's land whose wealth is below the lighting threshold."""

GAIN = 0.25
"""Radiance scale above the threshold, nW/cm²/sr: ``GAIN * expm1(STEEPNESS * (W - threshold))``."""

STEEPNESS = 2.0
"""Growth of radiance per unit of wealth above the threshold (1.6 at +1, 13 at +2, 100 at +3)."""

CAP = 60.0
"""Saturation radiance, nW/cm²/sr."""

BLOOM_M = 1000.0
"""Standard deviation of the blooming blur, metres (miniaturised with the world)."""

SUBSAMPLES = 4
"""Sub-samples per pixel along each axis when integrating over a pixel's footprint."""


def radiance_field(grid: WorldGrid, fields: LatentFields) -> np.ndarray:
    """Noise-free emitted radiance on the coarse grid, blurred, before pixel integration.

    Returns:
        (rows, cols) float32, nW/cm²/sr, >= 0 (not yet saturated).
    """
    land = ~interior(grid, fields.water)
    threshold = float(np.quantile(interior(grid, fields.wealth)[land], DARK_SHARE))
    excess = np.maximum(fields.wealth.astype(np.float64) - threshold, 0.0)
    emitted = GAIN * np.expm1(STEEPNESS * excess)
    emitted[fields.water] = 0.0
    sigma_cells = grid.px(BLOOM_M) / COARSE_FACTOR
    return ndimage.gaussian_filter(emitted, sigma_cells, mode="nearest").astype(np.float32)


def nightlight_grid(grid: WorldGrid) -> tuple[rasterio.Affine, int, int]:
    """The EPSG:4326 pixel grid covering the world's bounds plus ``MARGIN_M``.

    Returns:
        ``(transform, width, height)``: north-up affine of 1/240 degree pixels snapped to
        multiples of the pixel size, and the raster size in pixels.
    """
    to_geo = Transformer.from_crs(grid.spec.crs, "EPSG:4326", always_xy=True)
    west, south, east, north = to_geo.transform_bounds(*grid.bounds, densify_pts=21)
    dlat = MARGIN_M / 111_320.0
    dlon = MARGIN_M / (111_320.0 * math.cos(math.radians(0.5 * (south + north))))
    west = math.floor((west - dlon) / RES_DEG) * RES_DEG
    north = math.ceil((north + dlat) / RES_DEG) * RES_DEG
    width = math.ceil((east + dlon - west) / RES_DEG)
    height = math.ceil((north - (south - dlat)) / RES_DEG)
    return from_origin(west, north, RES_DEG, RES_DEG), width, height


def make_nightlights(grid: WorldGrid, fields: LatentFields) -> tuple[np.ndarray, rasterio.Affine]:
    """Simulate the nightlight raster.

    Returns:
        ``(radiance, transform)``: (height, width) float32 nW/cm²/sr in EPSG:4326, and its affine.
    """
    rng = stream(grid.spec, "nightlights")
    field = radiance_field(grid, fields)
    transform, width, height = nightlight_grid(grid)
    sub = (np.arange(SUBSAMPLES) + 0.5) / SUBSAMPLES
    cols = (np.arange(width)[:, None] + sub[None, :]).ravel()
    rows = (np.arange(height)[:, None] + sub[None, :]).ravel()
    lon = transform.c + cols * transform.a
    lat = transform.f + rows * transform.e
    lon2, lat2 = np.meshgrid(lon, lat)
    to_map = Transformer.from_crs("EPSG:4326", grid.spec.crs, always_xy=True)
    x, y = to_map.transform(lon2, lat2)
    prow, pcol = grid.xy_to_px(x, y)
    crow = prow / COARSE_FACTOR - 0.5 + grid.pad_cells
    ccol = pcol / COARSE_FACTOR - 0.5 + grid.pad_cells
    samples = ndimage.map_coordinates(field, [crow, ccol], order=1, mode="nearest")
    mean = samples.reshape(height, SUBSAMPLES, width, SUBSAMPLES).mean(axis=(1, 3))
    noisy = mean * np.exp(rng.normal(-0.03, 0.25, mean.shape))
    saturated = CAP * -np.expm1(-noisy / CAP)
    return (saturated + rng.normal(0.02, 0.03, mean.shape)).astype(np.float32), transform


def write_nightlights(path: Path, radiance: np.ndarray, transform: rasterio.Affine) -> None:
    """Write the nightlight raster: 1 band float32, EPSG:4326, deflate, no nodata value."""
    profile = dict(
        driver="GTiff", width=radiance.shape[1], height=radiance.shape[0], count=1,
        dtype="float32", crs="EPSG:4326", transform=transform, compress="deflate", nodata=None,
    )
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(radiance, 1)
        dst.set_band_description(1, "radiance")
        dst.update_tags(1, units="nW/cm2/sr", product="demo VIIRS-like annual composite")
