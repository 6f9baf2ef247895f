"""Label stage: tiles/s of the nightlight sampling before and after exact zonal statistics.

Writes a VIIRS-like raster (15 arc-second pixels, about 460 m, lognormal radiance with lit
towns) under a grid of 1 km tile footprints (``--tiles``, default 100,000), then times, in one
process, over the same footprints:

  before: the label stage's sampling as it was up to label VERSION 5: one Python call per tile
          that reads a window, rasterises the footprint and averages the pixels whose centre
          falls inside it (a reference copy kept here only, not in the package);
  after:  ``pipeline.geo.nightlights.sample_footprints`` (exactextract, coverage-weighted), in
          shards of ``--shard`` footprints as the stage sends them to the executor;

each followed by what the stage does next with the radiance (Gaussian-mixture thresholds and
classes), so the figures are label-stage tiles/s on one core. Also prints how far the two means
differ (they should: the old one ignored the parts of pixels cut by a footprint).

The old loop costs the same for every tile, so ``--before-tiles N`` times it on the first N
footprints only (its rate is then per tile of those N; the radiance comparison is over them).

Usage: ``python benchmarks/label_zonal.py [--tiles 100000] [--shard 10000] [--before-tiles N]``.
The last line::

    RESULT tiles=<n> before_tiles_per_s=<a> after_tiles_per_s=<b> speedup=<b/a>
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import WindowError
from rasterio.features import geometry_mask
from rasterio.transform import from_origin
from rasterio.warp import transform_geom
from rasterio.windows import Window, from_bounds
from shapely.geometry import box, mapping, shape
from threadpoolctl import threadpool_limits

from pipeline.geo.nightlights import sample_footprints
from pipeline.evaluation.light_classes import assign_classes, class_thresholds

PIXEL_DEG = 15 / 3600
TILE_DEG = 1 / 110.574


def sample_footprint_v5(src, footprint, band=1):
    """The per-tile sampler of label VERSION 5 (pixel centres; any touched pixel when none)."""
    geom = shape(transform_geom("EPSG:4326", src.crs, mapping(footprint)))
    window = from_bounds(*geom.bounds, transform=src.transform).round_offsets().round_lengths()
    window = Window(window.col_off - 1, window.row_off - 1, window.width + 2, window.height + 2)
    try:
        window = window.intersection(Window(0, 0, src.width, src.height))
    except WindowError:
        return float("nan"), float("nan")
    data = src.read(band, window=window, masked=True).astype(np.float64)
    transform = src.window_transform(window)
    inside = ~geometry_mask([mapping(geom)], data.shape, transform, all_touched=False)
    if not inside.any():
        inside = ~geometry_mask([mapping(geom)], data.shape, transform, all_touched=True)
    values = data[inside]
    values = values.compressed() if np.ma.isMaskedArray(values) else values
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    return float(values.mean()), float(values.max())


def make_world(folder: Path, n_tiles: int, seed: int = 0) -> tuple[Path, list]:
    side = int(np.ceil(np.sqrt(n_tiles)))
    extent = side * TILE_DEG
    px = int(np.ceil(extent / PIXEL_DEG)) + 4
    rng = np.random.default_rng(seed)
    radiance = rng.lognormal(-2.0, 1.0, (px, px)).astype(np.float32)
    for _ in range(40):  # towns
        r, c = rng.integers(0, px, 2)
        radiance[max(r - 3, 0):r + 3, max(c - 3, 0):c + 3] += rng.uniform(5, 60)
    path = folder / "viirs.tif"
    origin_lon, origin_lat = 30.0, -1.0
    with rasterio.open(path, "w", driver="GTiff", width=px, height=px, count=1, dtype="float32",
                       crs="EPSG:4326", transform=from_origin(origin_lon, origin_lat, PIXEL_DEG,
                                                              PIXEL_DEG),
                       tiled=True, blockxsize=256, blockysize=256) as dst:
        dst.write(radiance, 1)
    left, top = origin_lon + PIXEL_DEG * 0.37, origin_lat - PIXEL_DEG * 0.61  # not aligned
    footprints = [box(left + c * TILE_DEG, top - (r + 1) * TILE_DEG, left + (c + 1) * TILE_DEG,
                      top - r * TILE_DEG) for r in range(side) for c in range(side)][:n_tiles]
    return path, footprints


def label_rest(radiance: np.ndarray) -> None:
    finite = radiance[np.isfinite(radiance)]
    assign_classes(radiance, class_thresholds(finite, "gmm", 3, seed=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiles", type=int, default=100_000)
    parser.add_argument("--shard", type=int, default=10_000)
    parser.add_argument("--before-tiles", type=int, default=None,
                        help="time the old per-tile loop on this many tiles (default: all)")
    args = parser.parse_args()
    n_before = min(args.before_tiles or args.tiles, args.tiles)
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1):
        path, footprints = make_world(Path(tmp), args.tiles)
        start = time.perf_counter()
        with rasterio.open(path) as src:
            before = np.array([sample_footprint_v5(src, fp) for fp in footprints[:n_before]])
        label_rest(before[:, 0])
        before_s = time.perf_counter() - start
        start = time.perf_counter()
        after = np.concatenate([sample_footprints(footprints[i:i + args.shard], path)
                                for i in range(0, len(footprints), args.shard)])
        label_rest(after[:, 0])
        after_s = time.perf_counter() - start
    diff = np.abs(after[:n_before, 0] - before[:, 0]) / np.maximum(before[:, 0], 1e-9)
    before_rate, after_rate = n_before / before_s, args.tiles / after_s
    print(f"before: {n_before} tiles in {before_s:.1f} s; after: {args.tiles} tiles in "
          f"{after_s:.1f} s; mean radiance differs by a median {np.median(diff):.1%} (90th "
          f"percentile {np.quantile(diff, .9):.1%})")
    print(f"RESULT tiles={args.tiles} before_tiles={n_before} before_tiles_per_s={before_rate:.0f} "
          f"after_tiles_per_s={after_rate:.0f} speedup={after_rate / before_rate:.1f}")


if __name__ == "__main__":
    main()
