"""``poverty-pipeline runs list|table|compare``: the run directories under a folder, a run's r²
table (with its change from another run), or two runs side by side.

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
    table = group.add_parser("table", help="a run's cross-validated r² table (as `run` prints "
                             "it), and its change from another run")
    table.add_argument("run", type=Path, metavar="RUN")
    table.add_argument("--vs", type=Path, metavar="OTHER_RUN",
                       help="also print the change of every r² from this run's (skipped when "
                            "it has no fit/metrics.json)")
    compare = group.add_parser("compare", help="metrics and predictions of two runs")
    compare.add_argument("run_a", type=Path, metavar="RUN_A")
    compare.add_argument("run_b", type=Path, metavar="RUN_B")
    compare.add_argument("--metric", action="append", dest="metrics", metavar="NAME",
                         help="metric to show (repeatable; default r2), e.g. pearson_r2, rmse")
    compare.add_argument("--json", action="store_true", help="JSON instead of tables")


def cmd_runs(args: argparse.Namespace) -> int:
    from pipeline.runs.listing import compare_runs, format_comparison, format_runs, list_runs

    if args.runs_command == "table":
        return print_table(args.run, args.vs)
    if args.runs_command == "list":
        rows = list_runs(args.root)
        print(json.dumps(rows, indent=2) if args.json else format_runs(rows))
        return 0
    result = compare_runs(args.run_a, args.run_b, tuple(args.metrics or ("r2",)))
    print(json.dumps(result, indent=2) if args.json
          else format_comparison(result, args.run_a, args.run_b))
    return 0


def print_table(run: Path, vs: Path | None) -> int:
    from pipeline.engine.rundir import RunDir
    from pipeline.runs.summary import change_lines, metric_lines

    metrics = json.loads(RunDir(run).artifact("fit", "metrics.json").read_text())
    print(f"{run}: cross-validated r² (sklearn R²), image model vs baselines")
    print("\n".join(metric_lines(metrics)))
    other = RunDir(vs).artifact("fit", "metrics.json", required=False) if vs else None
    if other is not None:
        print(f"change of r² from {vs} (this run minus that one):")
        print("\n".join(change_lines(metrics, json.loads(other.read_text()))))
    return 0


COMMANDS = {"runs": cmd_runs}
