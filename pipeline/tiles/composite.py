"""Cloud-masked median composites: which pixels of a scene are clear, and their per-pixel median.

Pure numpy, no I/O: :mod:`pipeline.tiles.stac` reads the scenes and hands their arrays here.

- Sentinel-2 L2A: the scene classification layer (``SCL``) marks each pixel; clear are
  dark area (2), vegetation (4), bare soil (5), water (6), unclassified (7) and snow (11);
  no data (0), saturated (1), cloud shadow (3), clouds (8, 9) and cirrus (10) are masked.
- Landsat Collection 2 Level-2: the ``QA_PIXEL`` bits; a pixel is clear when none of fill (bit 0),
  dilated cloud (1), cirrus (2), cloud (3) and cloud shadow (4) is set.
"""

from __future__ import annotations

import numpy as np

SCL_CLEAR = (2, 4, 5, 6, 7, 11)
"""Sentinel-2 scene classes kept as clear observations."""

QA_PIXEL_MASKED_BITS = (0, 1, 2, 3, 4)
"""Landsat C2 QA_PIXEL bits that mask a pixel: fill, dilated cloud, cirrus, cloud, shadow."""

CLOUD_MASKS = ("sentinel2_scl", "landsat_qa_pixel", "none")


def clear_pixels(mask: np.ndarray | None, kind: str) -> np.ndarray | None:
    """Which pixels of each scene are clear.

    Args:
        mask: integer (time, height, width) from the scene classification or QA band; None
            when ``kind`` is ``none``.
        kind: one of :data:`CLOUD_MASKS`.

    Returns:
        bool (time, height, width), True where clear; None when ``kind`` is ``none`` (every
        pixel with data counts).
    """
    if kind == "none" or mask is None:
        return None
    if kind == "sentinel2_scl":
        return np.isin(mask, SCL_CLEAR)
    if kind == "landsat_qa_pixel":
        bits = sum(1 << b for b in QA_PIXEL_MASKED_BITS)
        return (mask.astype(np.int64) & bits) == 0
    raise ValueError(f"cloud mask must be one of {', '.join(CLOUD_MASKS)}; got {kind!r}")


def scaled(values: np.ndarray, nodata: float | None, scale: float, offset: float) -> np.ndarray:
    """Digital numbers to physical values (``value * scale + offset``), float32, NaN at nodata."""
    out = values.astype(np.float32)
    if nodata is not None:
        out[values == nodata] = np.nan
    return out * np.float32(scale) + np.float32(offset)


def median_composite(scenes: np.ndarray, clear: np.ndarray | None,
                     min_observations: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The per-pixel median of the clear observations of a stack of scenes.

    Args:
        scenes: float (time, bands, height, width), NaN where a scene has no data.
        clear: bool (time, height, width) from :func:`clear_pixels`, or None (all clear).
        min_observations: pixels with fewer clear observations become NaN.

    Returns:
        composite: float32 (bands, height, width), NaN where too few clear observations.
        count: uint16 (height, width), clear observations per pixel (every band has data).
    """
    usable = np.isfinite(scenes).all(axis=1)
    if clear is not None:
        usable &= clear
    masked = scenes.astype(np.float32, copy=True)
    np.copyto(masked, np.nan, where=~usable[:, None])  # in place: np.where took 3x as long
    count = usable.sum(axis=0).astype(np.uint16)
    composite = nan_median(masked, count)
    composite[:, count < max(min_observations, 1)] = np.nan
    return composite, count


def nan_median(values: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The median over axis 0 of the finite values, as ``np.nanmedian`` computes it, bit for
    bit (the mean of the two middle values in float32), in a fifth of its time.

    Args:
        values: float32 (time, bands, height, width), NaN where not usable, NaN in every band
            of a pixel or in none.
        count: (height, width), the finite values per pixel.

    Returns:
        float32 (bands, height, width); pixels with no value get an arbitrary number (the
        caller masks them).
    """
    ordered = np.sort(values, axis=0)  # NaN sorts last
    high = (count // 2).astype(np.intp)
    low = np.where(count % 2 == 1, high, high - 1)
    last = len(values) - 1
    pick = [np.take_along_axis(ordered, np.broadcast_to(i.clip(0, last), ordered.shape[1:])[None],
                               axis=0)[0] for i in (low, high)]
    return (pick[0] + pick[1]) / np.float32(2)
