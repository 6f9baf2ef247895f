"""``poverty-pipeline export RUN_DIR [--format F ...] [--out DIR] [--config FILE]``.

Re-exports a finished run's map files without rerunning any stage (e.g. after deleting them,
or into another folder). Formats: cog gpkg parquet csv png html (default: all).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.errors import ConfigError

FORMATS = ("cog", "gpkg", "parquet", "csv", "png", "html")
"""The names of :data:`pipeline.outputs.formats.FORMATS` (a test keeps them equal), here so that
``--help`` does not import the writers (matplotlib, folium, geopandas)."""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register the ``export`` command."""
    export = sub.add_parser("export", help="re-export a run's map files without rerunning it")
    export.add_argument("run_dir", type=Path)
    export.add_argument("--format", dest="formats", action="append", metavar="FORMAT",
                        help=f"one of {', '.join(FORMATS)} (repeat or comma-separate; default: all)")
    export.add_argument("--out", type=Path, help="output folder (default: RUN_DIR/export)")
    export.add_argument("--config", type=Path,
                        help="the run's config, for runs without RUN_DIR/config.yaml")


def parse_formats(values: list[str] | None) -> list[str]:
    """``["cog,png", "csv"]`` -> ``["cog", "png", "csv"]``; every format when None."""
    if not values:
        return list(FORMATS)
    names = [name.strip().lower() for value in values for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in FORMATS]
    if unknown:
        raise ConfigError(f"--format {unknown[0]!r} is not a format; choose from "
                          f"{', '.join(FORMATS)}.")
    return names


def cmd_export(args: argparse.Namespace) -> int:
    from pipeline.runs.api import load_run

    formats = parse_formats(args.formats)
    run = load_run(args.run_dir, config=args.config)
    for path in run.export(formats, out=args.out):
        print(path)
    return 0


COMMANDS = {"export": cmd_export}
