"""``poverty-pipeline runs list|compare``: the run directories under a folder, or two runs side
by side.

Registered by :mod:`pipeline.cli.main`; like the rest of the CLI it only parses and prints, the
work is in :mod:`pipeline.runs.listing`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``runs`` command group."""
    runs = sub.add_parser("runs", help="list run directories, or compare two runs")
    group = runs.add_subparsers(dest="runs_command", required=True)
    listing = group.add_parser("list", help="every run directory under a folder")
    listing.add_argument("root", type=Path, metavar="DIR")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    compare = group.add_parser("compare", help="metrics and predictions of two runs")
    compare.add_argument("run_a", type=Path, metavar="RUN_A")
    compare.add_argument("run_b", type=Path, metavar="RUN_B")
    compare.add_argument("--metric", action="append", dest="metrics", metavar="NAME",
                         help="metric to show (repeatable; default r2), e.g. pearson_r2, rmse")
    compare.add_argument("--json", action="store_true", help="JSON instead of tables")


def cmd_runs(args: argparse.Namespace) -> int:
    from pipeline.runs.listing import compare_runs, format_comparison, format_runs, list_runs

    if args.runs_command == "list":
        rows = list_runs(args.root)
        print(json.dumps(rows, indent=2) if args.json else format_runs(rows))
        return 0
    result = compare_runs(args.run_a, args.run_b, tuple(args.metrics or ("r2",)))
    print(json.dumps(result, indent=2) if args.json
          else format_comparison(result, args.run_a, args.run_b))
    return 0


COMMANDS = {"runs": cmd_runs}
