"""Command line: ``change RUN_A RUN_B --out DIR``, the per-cell change between two runs' maps.

The work is in :mod:`pipeline.runs.change` (alignment, change, interval, quintile moves) and
:mod:`pipeline.outputs.change_maps` (the files); this only parses and prints.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    change = sub.add_parser("change", help="per-cell change between two runs' maps (B - A)")
    change.add_argument("run_a", type=Path, metavar="RUN_A", help="the earlier run")
    change.add_argument("run_b", type=Path, metavar="RUN_B", help="the later run")
    change.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="folder for change.tif/.gpkg/.parquet/.csv/.png/.html")
    change.add_argument("--json", action="store_true", help="print the summary as JSON")


def cmd_change(args: argparse.Namespace) -> int:
    from pipeline.outputs.change_maps import write_change_maps
    from pipeline.runs.change import change_between

    found = change_between(args.run_a, args.run_b)
    title = f"{args.run_a.name} -> {args.run_b.name}"
    write_change_maps(found.cells, found.summary, found.tiles, found.catalog, args.out, title)
    rows = found.summary.to_dict(orient="records")
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print(f"{row['target']:<24} cells {row['cells']:>6}  mean change {row['mean_change']:+.4g}  "
              f"changed beyond interval {100 * row['share_changed']:5.1f}%  moved quintile "
              f"{100 * row['share_quintile_moved']:5.1f}%  OOD {100 * row['share_ood']:5.1f}%")
    print(f"change maps: {args.out} (change.tif, change.gpkg, change.parquet, change.html)")
    return 0


COMMANDS = {"change": cmd_change}
