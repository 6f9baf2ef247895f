"""Command line for input data: ``poverty-pipeline data verify MANIFEST``, ``poverty-pipeline
init`` (a config from data files) and ``poverty-pipeline demo`` (the embedded demo world).

Registered by :mod:`pipeline.cli.main`; thin like it: parse, call, print. Exit codes: 0 ok, 2 bad
input (unreadable manifest, missing column, ...), 3 a file failed its manifest's checks.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``data``, ``init`` and ``demo`` subcommands to the main parser."""
    demo = sub.add_parser("demo", help="write the embedded demo world (if absent)")
    demo.add_argument("out", type=Path, nargs="?", default=Path("data/demo"))
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--tiles", type=int, default=40, help="tiles per side")
    data = sub.add_parser("data", help="data manifests: check downloaded files")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    verify = data_sub.add_parser("verify", help="check every file of a data manifest "
                                 "(exists, sha256, opens, CRS) and print a table")
    verify.add_argument("manifest", type=Path, nargs="+")
    verify.add_argument("--root", type=Path,
                        help="folder the manifest's file paths are relative to (default: the "
                             "manifest's own folder)")
    init = sub.add_parser("init", help="inspect data files (or a STAC catalog) and write a "
                          "complete config")
    init.add_argument("out", type=Path, help="the config file to write (YAML)")
    imagery = init.add_mutually_exclusive_group(required=True)
    imagery.add_argument("--tiles", type=Path,
                         help="folder of GeoTIFF tiles, or one mosaic GeoTIFF/COG/VRT")
    imagery.add_argument("--stac", metavar="URL",
                         help="a STAC API root: imagery searched there (with --collection)")
    init.add_argument("--collection", help="--stac: the collection id, e.g. sentinel-2-l2a")
    init.add_argument("--datetime", help="--stac: acquisition interval, e.g. "
                      "2019-01-01/2019-12-31 (default: the survey's --year column's years)")
    init.add_argument("--nightlights", type=Path, required=True, help="nightlight raster")
    init.add_argument("--survey", type=Path, required=True, help="survey cluster table")
    init.add_argument("--id", required=True, help="cluster id column")
    init.add_argument("--lat", required=True, help="latitude column (WGS84)")
    init.add_argument("--lon", required=True, help="longitude column (WGS84)")
    init.add_argument("--outcome", action="append", required=True, dest="outcomes",
                      help="outcome column (repeat for several)")
    for name in ("country", "year", "weight", "urban"):
        init.add_argument(f"--{name}", help=f"{name} column (optional)")
    init.add_argument("--force", action="store_true", help="overwrite OUT if it exists")


def cmd_data(args: argparse.Namespace) -> int:
    from pipeline.engine.provenance import format_table, verify
    from pipeline.errors import DataVerificationError

    status = 0
    for manifest in args.manifest:
        checks = verify(manifest, args.root)
        print(f"{manifest}:")
        print(format_table(checks))
        status = status or (0 if all(c.ok for c in checks) else DataVerificationError.exit_code)
    return status


def cmd_init(args: argparse.Namespace) -> int:
    from pipeline.cli.init import InitRequest, report, write_config

    req = InitRequest(out=args.out, tiles=args.tiles, nightlights=args.nightlights,
                      survey=args.survey, id=args.id, lat=args.lat, lon=args.lon,
                      outcomes=tuple(args.outcomes), country=args.country, year=args.year,
                      weight=args.weight, urban=args.urban, stac=args.stac,
                      collection=args.collection, datetime=args.datetime)
    path, findings = write_config(req, force=args.force)
    print(report(findings))
    print(f"wrote {path}; check it with `poverty-pipeline validate {path}`, then run it.")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.demo import WorldSpec, generate_world

    spec = WorldSpec(seed=args.seed, n_tiles_x=args.tiles, n_tiles_y=args.tiles)
    out = generate_world(args.out, spec)
    print(json.dumps({"world": str(out), "seed": args.seed, "tiles": args.tiles**2}))
    return 0


COMMANDS = {"data": cmd_data, "init": cmd_init, "demo": cmd_demo}
