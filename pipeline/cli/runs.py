"""Command line for batch runs: ``run``'s executor and run-id options, and ``runs list|compare``.

Kept apart from :mod:`pipeline.cli.main` (which wires it in) so the scheduling options live in one
place; like the rest of the CLI it only parses and prints, the work is in
:mod:`pipeline.runs.listing` and :mod:`pipeline.engine.executor`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pipeline.runs.listing import AUTO


def add_run_options(run: argparse.ArgumentParser) -> None:
    """``--executor``, ``--dask-address``, ``--workers`` and ``--run-id`` on the ``run`` parser."""
    run.add_argument("--executor", choices=("local", "dask"),
                     help="override the config's executor.kind")
    run.add_argument("--dask-address", metavar="ADDRESS",
                     help="Dask scheduler, e.g. tcp://scheduler:8786 (default: a LocalCluster)")
    run.add_argument("--workers", type=int, metavar="N",
                     help="workers of the LocalCluster started when there is no address")
    run.add_argument("--run-id", nargs="?", const=AUTO, metavar="ID",
                     help="write the run to <parent of run_dir>/ID instead of run_dir; "
                          "without ID: <name>-<UTC time>, e.g. demo-20250101T020000Z")


def apply_run_options(config: Any, args: argparse.Namespace) -> Any:
    """The config with ``run``'s executor and run-id options applied."""
    from pipeline.engine.executor import override_executor
    from pipeline.runs.listing import resolve_run_dir

    config = override_executor(config, args.executor, args.dask_address, args.workers)
    return resolve_run_dir(config, args.run_id)


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
