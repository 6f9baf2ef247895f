"""The test world of the STAC tile source: scenes that mimic Sentinel-2 L2A and Landsat C2 L2,
the numpy reference of their composites, and helpers. The servers holding them are the fixtures
of ``conftest.py``; tests import from here, by this module's own name (two ``conftest`` modules
in one session would shadow each other).

The scenes are small seeded arrays on a 10 m (Sentinel-2) and a 30 m (Landsat) UTM 36S grid,
with clouds, shadows and nodata where the tests expect them; the tests compare the composites
with a numpy reference computed from these arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from pipeline.demo.cog_server import CogServer
from pipeline.demo.stac_world import Scene

CRS = "EPSG:32736"
S2_ORIGIN = (800_000.0, 9_784_000.0)  # top-left, multiples of the 320 m test tiles
S2_ASSETS = ("B04", "B03", "B02", "B08")
S2_RASTER = {"scale": 0.0001, "offset": -0.1, "nodata": 0}
LS_ORIGIN = (799_980.0, 9_784_020.0)  # multiples of 30 m
LS_ASSETS = ("red", "green", "blue", "nir08")
LS_RASTER = {"scale": 0.0000275, "offset": -0.2, "nodata": 0}
QA_CLEAR = 21824  # Landsat C2 QA_PIXEL of clear land (bits 6, 8, 10, 12, 14)
SIZE = 96


@dataclass
class StacWorld:
    """The servers and the scenes behind them."""

    api_url: str
    cogs: CogServer
    s2: list[Scene]
    landsat: list[Scene]
    hrefs: tuple[Path, ...] = ()  # the collection and items files the API loaded


def s2_scenes(seed: int = 7) -> list[Scene]:
    """Four Sentinel-2 L2A-like scenes: clouds (SCL 8/9, bright), shadows (SCL 3, dark),
    nodata (SCL 0, DN 0) in places; the top-left 32 px tile is cloudy in every scene."""
    rng = np.random.default_rng(seed)
    scenes = []
    clouds = [(40, 60, 40, 60), (10, 30, 50, 80), (60, 90, 5, 40), (0, 96, 0, 96)]
    for k, (r0, r1, c0, c1) in enumerate(clouds):
        bands = {a: rng.integers(300, 3000, (SIZE, SIZE)).astype(np.uint16) for a in S2_ASSETS}
        scl = np.full((SIZE, SIZE), 4, np.uint8)
        scl[r0:r1, c0:c1] = 9
        scl[r1:r1 + 4, c0:c1] = 3  # shadow below the cloud
        scl[:32, :32] = 8  # always cloudy
        if k == 1:
            scl[:, 90:] = 0  # nodata strip
        for band in bands.values():
            band[np.isin(scl, (8, 9))] = 9500
            band[scl == 3] = 50
            band[scl == 0] = 0
        cover = [10.0, 20.0, 35.0, 60.0][k]
        scenes.append(Scene(f"S2-{k}", f"2020-0{k + 2}-01T08:00:00Z", cover, CRS,
                            Affine(10, 0, S2_ORIGIN[0], 0, -10, S2_ORIGIN[1]),
                            {**bands, "SCL": scl}, {a: S2_RASTER for a in S2_ASSETS}))
    return scenes


def landsat_scenes(seed: int = 11) -> list[Scene]:
    """Three Landsat C2 L2-like scenes: QA_PIXEL cloud (bit 3) and shadow (bit 4) areas."""
    rng = np.random.default_rng(seed)
    scenes = []
    for k, (r0, r1) in enumerate([(20, 50), (40, 70), (0, 0)]):
        bands = {a: rng.integers(8000, 20000, (SIZE, SIZE)).astype(np.uint16) for a in LS_ASSETS}
        qa = np.full((SIZE, SIZE), QA_CLEAR, np.uint16)
        qa[r0:r1, 30:70] |= (1 << 3) | (1 << 1)
        qa[r1:r1 + 3, 30:70] |= 1 << 4
        for band in bands.values():
            band[(qa & (1 << 3)) > 0] = 40000
        scenes.append(Scene(f"LC08-{k}", f"2020-0{k + 5}-10T07:50:00Z", 15.0, CRS,
                            Affine(30, 0, LS_ORIGIN[0], 0, -30, LS_ORIGIN[1]),
                            {**bands, "qa_pixel": qa}, {a: LS_RASTER for a in LS_ASSETS}))
    return scenes


def clear_gdal_http_cache() -> None:
    """Empty GDAL's /vsicurl/ cache of this process (the libgdal rasterio loaded)."""
    import ctypes
    import glob
    import os

    import rasterio

    libs = glob.glob(os.path.join(os.path.dirname(rasterio.__file__) + ".libs", "libgdal*"))
    if not libs:
        pytest.skip("cannot reach libgdal to empty its HTTP cache (rasterio not from a wheel)")
    ctypes.CDLL(libs[0]).VSICurlClearCache()


def s2_clear(scl: np.ndarray) -> np.ndarray:
    """Clear Sentinel-2 pixels, written out independently of the code under test."""
    return (scl == 2) | (scl == 4) | (scl == 5) | (scl == 6) | (scl == 7) | (scl == 11)


def landsat_clear(qa: np.ndarray) -> np.ndarray:
    return (qa & 0b11111) == 0


def reference_composite(scenes: list[Scene], assets: tuple[str, ...], mask_asset: str,
                        clear_of, bounds: tuple[float, ...], res: float, raster: dict
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Median of the clear observations over ``bounds``, pixel by pixel with numpy."""
    minx, miny, maxx, maxy = bounds
    h, w = round((maxy - miny) / res), round((maxx - minx) / res)
    stack = np.full((len(scenes), len(assets), h, w), np.nan)
    for t, scene in enumerate(scenes):
        x0, y0 = scene.transform.c, scene.transform.f
        for row in range(h):
            for col in range(w):
                r = int((y0 - (maxy - (row + 0.5) * res)) // res)
                c = int(((minx + (col + 0.5) * res) - x0) // res)
                if not (0 <= r < SIZE and 0 <= c < SIZE) or not clear_of(scene.bands[mask_asset][r, c]):
                    continue
                dn = [scene.bands[a][r, c] for a in assets]
                if any(v == raster["nodata"] for v in dn):
                    continue
                stack[t, :, row, col] = [v * raster["scale"] + raster["offset"] for v in dn]
    count = np.isfinite(stack[:, 0]).sum(axis=0)
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(stack, axis=0)
    return median, count


def tile_path(folder: Path, tile_id: str) -> Path:
    return folder / f"{tile_id}.tif"
