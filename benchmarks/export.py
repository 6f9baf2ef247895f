"""Time and memory of the export on a large region: every grid kind and every format.

Generates a run directory with ``--side`` x ``--side`` tiles of 1 km in UTM 36S (default 316 x 316,
about 100,000 tiles), a smooth predicted field with interval ends, and 400 survey clusters; then,
for each output grid, times building the cells and writing each format, and reports the peak
resident memory (``ru_maxrss``) of the process.

Usage: ``python benchmarks/export.py [--side 316] [--kinds tiles,regular,h3,quadkey]``. The last
line is machine-readable::

    RESULT tiles=<n> seconds_<kind>=<s> ... peak_rss_mb=<m>
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
from shapely.geometry import box

from pipeline.config.schema import parse_config
from pipeline.engine.rundir import RunDir
from pipeline.outputs.bundle import ExportFiles, load_bundle
from pipeline.outputs.formats import FORMATS, WRITERS

UTM = "EPSG:32736"
GRIDS = {"tiles": {"kind": "tiles"}, "regular": {"kind": "regular", "cell_km": 5.0},
         "h3": {"kind": "h3", "resolution": 6}, "quadkey": {"kind": "quadkey", "zoom": 11}}


def make_run(run_dir: Path, side: int, seed: int = 0) -> None:
    """predict/grid.parquet, ingest/tiles.parquet and ingest/clusters.parquet of a side^2 region."""
    rng = np.random.default_rng(seed)
    col, row = np.meshgrid(np.arange(side), np.arange(side))
    minx = 500_000.0 + col.ravel() * 1000.0
    maxy = 9_000_000.0 - row.ravel() * 1000.0
    utm = gpd.GeoSeries([box(x, y - 1000, x + 1000, y) for x, y in zip(minx, maxy)], crs=UTM)
    footprints, centre = utm.to_crs("EPSG:4326"), utm.centroid.to_crs("EPSG:4326")
    field = np.exp(np.sin(col.ravel() / 17.0) + np.cos(row.ravel() / 23.0))
    ids = [f"t{i}" for i in range(side * side)]
    (run_dir / "predict").mkdir(parents=True)
    (run_dir / "ingest").mkdir()
    gpd.GeoDataFrame({"tile_id": ids, "lon": centre.x, "lat": centre.y, "n_tiles": 25,
                      "pred_y": field, "lower_y": field * 0.5, "upper_y": field * 2.0,
                      "ood_y": rng.random(side * side) < 0.02},
                     geometry=footprints, crs="EPSG:4326").to_parquet(run_dir / "predict" / "grid.parquet")
    gpd.GeoDataFrame({"tile_id": ids, "crs": UTM, "minx": minx, "miny": maxy - 1000,
                      "maxx": minx + 1000, "maxy": maxy},
                     geometry=footprints, crs="EPSG:4326").to_parquet(run_dir / "ingest" / "tiles.parquet")
    pick = rng.choice(side * side, 400, replace=False)
    gpd.GeoDataFrame({"cluster_id": [f"c{i}" for i in range(400)], "y": field[pick]},
                     geometry=centre.iloc[pick].to_numpy(), crs="EPSG:4326"
                     ).to_parquet(run_dir / "ingest" / "clusters.parquet")


def config_for(run_dir: Path, grid: dict) -> object:
    return parse_config({
        "name": "bench", "run_dir": str(run_dir),
        "data": {"tiles": {"path": "t"}, "nightlights": {"path": "n"},
                 "survey": {"path": "s", "outcomes": ["y"]}},
        "regression": {"targets": [{"column": "y"}]}, "export": {"grid": grid}},
        base_dir=run_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--side", type=int, default=316)
    parser.add_argument("--kinds", default=",".join(GRIDS))
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        t0 = time.perf_counter()
        make_run(run_dir, args.side)
        print(f"{args.side ** 2} tiles generated in {time.perf_counter() - t0:.1f} s")
        for kind in args.kinds.split(","):
            t0 = time.perf_counter()
            found = ExportFiles.find(RunDir(run_dir).artifact, run_dir, None, "")
            bundle = load_bundle(found, config_for(run_dir, GRIDS[kind]))
            line = [f"{kind:<8} cells {len(bundle.cells):>7}  cells {time.perf_counter() - t0:6.1f} s"]
            total = time.perf_counter() - t0
            for name in FORMATS:
                t1 = time.perf_counter()
                (Path(tmp) / kind).mkdir(exist_ok=True)
                files = WRITERS[name](bundle, Path(tmp) / kind)
                seconds = time.perf_counter() - t1
                total += seconds
                size = sum(f.stat().st_size for f in files) / 1e6
                line.append(f"{name} {seconds:5.1f} s {size:6.1f} MB")
            results[kind] = total
            print("  ".join(line))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT tiles=%d %s peak_rss_mb=%.0f" % (
        args.side ** 2, " ".join(f"seconds_{k}={v:.1f}" for k, v in results.items()), peak))


if __name__ == "__main__":
    main()
