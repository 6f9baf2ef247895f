"""Per-tile costs measured by a finished run, and what they imply for a country or a continent.

Reads ``manifest.json`` of a run directory (seconds and tile counts of the stages whose work
grows with the tiles: ingest, label, train, extract, predict and any other that counts tiles) and
its artifacts (bytes per tile of the tile cache, features, catalog and prediction grid; the
catalog's in-memory size), then projects tiles, storage and compute for the regions of
``docs/scaling.md`` at 1 km and 6.7 km tiles, at the run's own per-tile settings.

Usage: ``python benchmarks/tile_costs.py RUN_DIR [--json]``, e.g. on the demo run
(``make demo`` writes ``runs/demo``). Every projected figure is the measured per-tile figure
times the tile count; nothing else enters.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PER_TILE_STAGES = ("ingest", "label", "extract", "predict")  # sharded through the executor
# Land areas in km² (World Bank, AG.LND.TOTL.K2, 2021): Malawi, Nigeria, Sub-Saharan Africa.
REGIONS = {"Malawi": 94_280, "Nigeria": 910_770, "Sub-Saharan Africa": 24_200_000}
TILE_KM = (1.0, 6.7)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else (
        path.stat().st_size if path.exists() else 0)


def rss_bytes() -> int:
    """This process's resident memory now (Linux ``/proc/self/statm``)."""
    import os

    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def catalog_memory_per_tile(path: Path, rows: int = 200_000) -> float:
    """Resident bytes per catalog row held as a GeoDataFrame (geometries included), measured on
    ``rows`` rows (the run's catalog repeated), as the driver holds it in ingest and predict."""
    import geopandas as gpd
    import pandas as pd

    copies = -(-rows // len(gpd.read_parquet(path)))
    before = rss_bytes()
    big = gpd.GeoDataFrame(pd.concat([gpd.read_parquet(path) for _ in range(copies)],
                                     ignore_index=True))
    return (rss_bytes() - before) / len(big)


def measure(run: Path) -> dict:
    """Seconds and bytes per tile of a finished run."""
    import geopandas as gpd

    manifest = json.loads((run / "manifest.json").read_text())["stages"]
    tiles = manifest["ingest"]["counts"]["tiles"]
    # every stage whose work grows with the tiles: those that count tiles, and train (per tile
    # of the catalog, at this run's labelled share and epochs)
    seconds = {name: entry["seconds"] / tiles for name, entry in manifest.items()
               if entry.get("seconds") and ("tiles" in (entry.get("counts") or {})
                                            or name == "train")}
    catalog = gpd.read_parquet(run / "ingest" / "tiles.parquet")
    source = sum(Path(p).stat().st_size for p in catalog["path"] if Path(p).is_file())
    # folders that grow with the tiles: those of per-tile stages, and export's maps of every cell
    per_tile = (set(seconds) - {"train"}) | {"export"}
    stored = {name: run / name for name in manifest if name in per_tile and (run / name).is_dir()}
    return {
        "run": str(run), "tiles": tiles,
        "seconds_per_tile": seconds,
        "bytes_per_tile": {k: folder_bytes(p) / tiles for k, p in stored.items()},
        "source_bytes_per_tile": source / tiles,
        "catalog_memory_bytes_per_tile": catalog_memory_per_tile(run / "ingest" / "tiles.parquet"),
    }


def project(costs: dict) -> list[dict]:
    """Tiles, storage (GB) and wall hours on the measuring machine for every region and tile size."""
    rows = []
    per_tile_s = sum(costs["seconds_per_tile"].values())
    stored = sum(costs["bytes_per_tile"].values())
    for region, area in REGIONS.items():
        for km in TILE_KM:
            n = area / km**2
            rows.append({
                "region": region, "tile_km": km, "tiles": round(n),
                "storage_gb": n * stored / 1e9,
                "hours": {s: n * v / 3600 for s, v in costs["seconds_per_tile"].items()},
                "total_hours": n * per_tile_s / 3600,
                "catalog_memory_gb": n * costs["catalog_memory_bytes_per_tile"] / 1e9,
            })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    costs = measure(args.run_dir)
    rows = project(costs)
    if args.json:
        print(json.dumps({"costs": costs, "projections": rows}, indent=2))
        return
    print(f"measured on {costs['run']} ({costs['tiles']} tiles):")
    for stage, s in costs["seconds_per_tile"].items():
        print(f"  {stage:<8} {s * 1000:8.3f} ms/tile")
    for name, b in costs["bytes_per_tile"].items():
        print(f"  {name + '/':<12} {b / 1024:8.2f} KiB/tile on disk")
    print(f"  input tiles  {costs['source_bytes_per_tile'] / 1024:8.2f} KiB/tile (not counted below)")
    print(f"  catalog in memory {costs['catalog_memory_bytes_per_tile']:.0f} B/tile")
    missing = [s for s in PER_TILE_STAGES if s not in costs["seconds_per_tile"]]
    if missing:
        print(f"  not measured (stage did not run): {', '.join(missing)}")
    print("  (train: seconds per catalog tile, at this run's labelled share and epochs)")
    print(f"{'region':<20} {'tile':>6} {'tiles':>12} {'storage GB':>11} "
          + " ".join(f"{s + ' h':>10}" for s in costs["seconds_per_tile"]) + f" {'total h':>9}")
    for r in rows:
        print(f"{r['region']:<20} {r['tile_km']:>4} km {r['tiles']:>12,} {r['storage_gb']:>11.1f} "
              + " ".join(f"{h:>10.2f}" for h in r["hours"].values()) + f" {r['total_hours']:>9.2f}")


if __name__ == "__main__":
    main()
