"""Per-band scaling of imagery to the model's 0..255 input range.

Three ways, chosen by ``data.tiles.scale``: none (uint8 kept as is), a fixed ``[low, high]``
(one for all bands, or one per band), or a percentile stretch whose per-band ranges are
computed once from a sample of the source and stored in ``ingest/scaling.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import InputDataError

Ranges = np.ndarray  # float64 (bands, 2): low, high per band


def fixed_ranges(scale: Any, n_bands: int) -> Ranges | None:
    """Per-band ranges from ``data.tiles.scale``: None (keep uint8), one range, or one per band."""
    if scale is None or scale == "percentile":
        return None
    ranges = np.asarray(scale, dtype=np.float64).reshape(-1, 2)
    return np.repeat(ranges, n_bands, axis=0) if len(ranges) == 1 else ranges


def to_uint8(data: np.ndarray, ranges: Ranges | None) -> np.ndarray:
    """Map band-first pixels to uint8: ``low`` -> 0, ``high`` -> 255, clipped, rounded.

    Args:
        data: (bands, h, w) array of any numeric dtype; nodata already filled.
        ranges: float (bands, 2) or None, in which case ``data`` must already be 0..255 values.
    """
    if ranges is None:
        return data.astype(np.uint8)
    low = ranges[:, 0].reshape(-1, 1, 1)
    high = ranges[:, 1].reshape(-1, 1, 1)
    scaled = (data.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def percentile_ranges(samples: Sequence[np.ma.MaskedArray], percentiles: tuple[float, float],
                      source: str) -> Ranges:
    """Per-band low/high percentiles over the valid pixels of sample reads.

    Args:
        samples: masked band-first arrays (bands, h, w), e.g. tiles read at reduced size.
        percentiles: (low, high) in [0, 100].
        source: named in the error when no valid pixel was found.

    Returns:
        float64 (bands, 2); a band with a single value gets the range [v, v + 1].

    Raises:
        InputDataError: no valid pixel in any sample.
    """
    if not samples:
        raise InputDataError(f"{source}: no tile could be read to compute the percentile stretch.")
    n_bands = samples[0].shape[0]
    out = np.empty((n_bands, 2))
    for b in range(n_bands):
        values = np.concatenate([s[b].compressed().astype(np.float64) for s in samples])
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise InputDataError(f"{source}: band {b + 1} of data.tiles.bands has no valid "
                                 "(non-nodata) pixel in the sampled tiles; cannot stretch it.")
        low, high = np.percentile(values, percentiles)
        out[b] = (low, high if high > low else low + 1.0)
    return out


def sample_indices(n: int, k: int) -> np.ndarray:
    """``k`` evenly spaced indexes of ``n`` items (all of them when k >= n)."""
    if k >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(int))


def band_ranges(scale: Any, n_bands: int, percentiles: tuple[float, float],
                read_sample: Callable[[], list[np.ma.MaskedArray]], source: str) -> Ranges | None:
    """The per-band ranges used for a run: fixed, None, or computed by a percentile stretch."""
    if scale == "percentile":
        return percentile_ranges(read_sample(), percentiles, source)
    return fixed_ranges(scale, n_bands)


def save_ranges(path: Path, ranges: Ranges | None, scale: Any, bands: Sequence[int],
                percentiles: tuple[float, float]) -> None:
    """Write ``scaling.json``: method, bands, and the low/high value of each band."""
    method = "none" if ranges is None else ("percentile" if scale == "percentile" else "fixed")
    payload: dict[str, Any] = {"method": method, "bands": list(bands),
                               "low": None if ranges is None else ranges[:, 0].tolist(),
                               "high": None if ranges is None else ranges[:, 1].tolist()}
    if method == "percentile":
        payload["percentiles"] = list(percentiles)
    path.write_text(json.dumps(payload, indent=2))


def load_ranges(path: Path) -> Ranges | None:
    """Read back the ranges written by :func:`save_ranges` (None for method none); a prediction
    run scales new tiles with its bundle's ranges."""
    payload = json.loads(path.read_text())
    if payload["low"] is None:
        return None
    return np.column_stack([payload["low"], payload["high"]]).astype(np.float64)
