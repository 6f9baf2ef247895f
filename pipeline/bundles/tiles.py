"""New tiles against a bundle's tile preprocessing: bands, resolution, scaling.

The network saw tiles of ``tile_size_px`` pixels, each covering a ground square of a known side;
its *cached resolution* (metres per cached pixel: the tile's ground side over ``tile_size_px``)
is what matters, since every tile is resampled to ``tile_size_px`` in the tile cache. New tiles
whose cached resolution lies within :data:`RESOLUTION_TOLERANCE` of the bundle's are resampled
to it (and the run says so); farther off is an error naming both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from pipeline.errors import InputDataError

RESOLUTION_TOLERANCE = 0.25
"""Largest relative difference of cached resolution accepted (resampled): 25%."""


def cached_resolution_m(gsd_m: float, tile_side_px: float, tile_size_px: int) -> float:
    """Metres per pixel of a tile of ``tile_side_px`` pixels at ``gsd_m`` once resampled to
    ``tile_size_px``."""
    return gsd_m * tile_side_px / tile_size_px


def matching_window_px(resolution_m: float, tile_size_px: int, gsd_m: float) -> int:
    """The mosaic window (pixels at ``gsd_m``) whose tiles have the cached resolution
    ``resolution_m`` at ``tile_size_px``."""
    return max(8, round(resolution_m * tile_size_px / gsd_m))


def check_bands(bundle_bands: Sequence[int], asked: Sequence[int] | None, bundle: Path,
                tiles: Path) -> tuple[int, ...]:
    """The tiles' bands to read, in the bundle's order.

    Args:
        bundle_bands: the training tiles' bands (model order).
        asked: ``data.tiles.bands`` when the prediction config sets it (other stacks may hold
            the same bands at other indexes), else None: the bundle's indexes.
        bundle, tiles: named in the error.

    Raises:
        InputDataError: ``asked`` gives another number of bands than the network takes.
    """
    if asked is None:
        return tuple(bundle_bands)
    if len(asked) != len(bundle_bands):
        raise InputDataError(
            f"{tiles}: data.tiles.bands {list(asked)} selects {len(asked)} band(s); the bundle "
            f"{bundle} was trained on {len(bundle_bands)} ({list(bundle_bands)} of its tiles). "
            f"Give {len(bundle_bands)} band indexes of these tiles, in the same order.")
    return tuple(asked)


def check_resolution(found_m: float, bundle_m: float, bundle: Path, tiles: Path,
                     tolerance: float = RESOLUTION_TOLERANCE) -> str | None:
    """None when the cached resolutions agree within 1%; a note saying the tiles are resampled
    when within ``tolerance``.

    Raises:
        InputDataError: farther apart than ``tolerance``; both resolutions named.
    """
    ratio = found_m / bundle_m
    if abs(ratio - 1.0) <= 0.01:
        return None
    if abs(math.log(ratio)) <= math.log1p(tolerance):
        return (f"{tiles}: tiles are {found_m:.3g} m per cached pixel, the bundle's "
                f"{bundle_m:.3g} m; resampled to the bundle's resolution (within "
                f"{tolerance:.0%}).")
    raise InputDataError(
        f"{tiles}: tiles are {found_m:.3g} m per cached pixel but the bundle {bundle} was trained "
        f"at {bundle_m:.3g} m (more than {tolerance:.0%} apart). Use imagery of the bundle's "
        "resolution, or for a mosaic leave data.tiles.window_px unset so windows of the bundle's "
        "ground size are cut.")
