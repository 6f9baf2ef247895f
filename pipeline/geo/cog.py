"""Cloud-Optimized GeoTIFFs: writing one, and checking the structure a COG reader relies on.

A COG is a tiled, compressed GeoTIFF whose internal overviews (for a raster larger than one
block) follow the full-resolution image and whose header (the image file directories, IFDs)
comes first, so that a reader can fetch one block of one zoom level with a single range
request. GDAL's ``COG`` driver writes that layout;
:func:`cog_problems` checks the parts of it that matter (after rio-cogeo's ``cog_validate``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from rasterio.shutil import copy as raster_copy


def block_size(width: int, height: int) -> int:
    """Tile side in pixels: 512 for large rasters, else 256, or 128; a raster smaller than that
    is one block, its side rounded up to a multiple of 16 (a 64 px STAC tile: 64, not 128,
    whose padding tripled the pixels to compress: 6.2 ms to write instead of 7.8)."""
    side = max(width, height)
    return 512 if side >= 4096 else 256 if side >= 1024 else min(128, -(-side // 16) * 16)


def overview_factors(width: int, height: int, block: int) -> list[int]:
    """Decimation factors 2, 4, ... until the overview fits in one block; none for a raster
    that fits in one block already (an overview would save a reader no request)."""
    side, factors = max(width, height), []
    while side / (factors[-1] if factors else 1) > block:
        factors.append(factors[-1] * 2 if factors else 2)
    return factors


def write_cog(path: Path, bands: np.ndarray, crs: str, transform: Affine,
              descriptions: Sequence[str], resampling: Resampling = Resampling.average,
              tags: Mapping[str, str] | None = None) -> None:
    """Write float32 ``bands`` as a Cloud-Optimized GeoTIFF with NaN as nodata.

    Args:
        path: output file.
        bands: (count, height, width) array; NaN marks cells without a value.
        crs: the raster's CRS (e.g. ``"EPSG:32736"``); transform: its geotransform.
        descriptions: one band description per band (e.g. the column name).
        resampling: how overviews are computed (average ignores nodata).
        tags: dataset metadata (GeoTIFF tags) to store, e.g. ``ACQUISITION_DATE``.
    """
    with raster_in_memory(bands, crs, transform, descriptions, resampling, tags) as src:
        copy_as_cog(src, path)


@contextmanager
def raster_in_memory(bands: np.ndarray, crs: str, transform: Affine,
                     descriptions: Sequence[str], resampling: Resampling = Resampling.average,
                     tags: Mapping[str, str] | None = None) -> Iterator[rasterio.DatasetReader]:
    """``bands`` as an open in-memory raster, with the overviews its COG will hold; arguments
    as :func:`write_cog`. It reads as the COG :func:`copy_as_cog` writes of it will."""
    count, height, width = bands.shape
    factors = overview_factors(width, height, block_size(width, height))
    profile = {"dtype": "float32", "count": count, "width": width, "height": height,
               "crs": crs, "transform": transform, "nodata": np.nan}
    with ExitStack() as stack:
        if factors:  # overviews built on a GeoTIFF (the MEM driver averages levels differently)
            memory = stack.enter_context(MemoryFile())
            src = stack.enter_context(memory.open(driver="GTiff", **profile))
        else:  # MEM: the COG driver copies plain arrays (a 64 px 5-band tile: 8 ms CPU, not 16)
            src = stack.enter_context(rasterio.open("", "w+", driver="MEM", **profile))
        src.write(bands.astype(np.float32))
        for band, text in enumerate(descriptions, start=1):
            src.set_band_description(band, text)
        if tags:
            src.update_tags(**tags)
        if factors:
            src.build_overviews(factors, resampling)
        yield src


def copy_as_cog(src: rasterio.DatasetReader, path: Path) -> None:
    """Write the open raster ``src`` (from :func:`raster_in_memory`) to ``path`` as a COG."""
    raster_copy(src, str(path), driver="COG", COMPRESS="DEFLATE", PREDICTOR="YES",
                BLOCKSIZE=block_size(src.width, src.height), OVERVIEWS="FORCE_USE_EXISTING")


def cog_problems(path: Path) -> list[str]:
    """What keeps ``path`` from being a valid COG; an empty list when nothing does.

    Checks: GDAL's COG layout marker, tiled blocks (multiples of 16), compression, internal
    overviews (for rasters larger than one block) that are tiled too, and the IFDs in
    increasing file order (full resolution first, then each overview).
    """
    problems = []
    with rasterio.open(path) as src:
        if src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") != "COG":
            problems.append("no COG layout marker (not written by GDAL's COG driver)")
        height, width = src.block_shapes[0]
        one_block = (height, width) == src.shape  # rasterio calls a one-block raster untiled
        if not (src.profile.get("tiled") or one_block) or height % 16 or width % 16:
            problems.append(f"not tiled in 16-multiple blocks (blocks {height}x{width})")
        if src.compression is None:
            problems.append("not compressed")
        levels = src.overviews(1)
        if max(src.width, src.height) > width and not levels:
            problems.append("no internal overviews")
        offsets = [int(src.get_tag_item("IFD_OFFSET", "TIFF", bidx=1) or 0)]
    for level in range(len(levels)):
        with rasterio.open(path, overview_level=level) as ovr:
            if not ovr.profile.get("tiled"):
                problems.append(f"overview {level} is not tiled")
            offsets.append(int(ovr.get_tag_item("IFD_OFFSET", "TIFF", bidx=1) or 0))
    if offsets != sorted(offsets):
        problems.append(f"IFDs out of order (offsets {offsets})")
    return problems
