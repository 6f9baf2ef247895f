"""Command line for model bundles: ``bundle RUN_DIR OUT`` and ``predict BUNDLE --tiles --out``.

``bundle`` packs a finished training run (:mod:`pipeline.runs.bundling`); ``predict`` is the
shortcut for a prediction run: it builds the config (``bundle:``, ``data.tiles``, ``run_dir``)
and runs :data:`pipeline.stages.PREDICTION_PIPELINE` like ``run`` would (same caching, resume,
executors and exit codes). Like the rest of the CLI it only parses and prints.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pipeline.cli import run as cli_run


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``bundle`` and ``predict`` commands."""
    pack = sub.add_parser("bundle", help="pack a finished run's model into a bundle folder")
    pack.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    pack.add_argument("out", type=Path, metavar="OUT", help="the bundle folder (must not exist)")
    predict = sub.add_parser("predict", help="map new tiles with a bundle (no survey needed)")
    predict.add_argument("bundle", type=Path, metavar="BUNDLE")
    predict.add_argument("--tiles", type=Path, required=True,
                         help="a folder of GeoTIFF tiles or one mosaic (data.tiles.path)")
    predict.add_argument("--out", type=Path, required=True, metavar="RUN_DIR",
                         help="the prediction run's directory")
    predict.add_argument("--name", default="predict", help="the run's name (map and report titles)")
    predict.add_argument("--bands", type=int, nargs="+", metavar="B",
                         help="these tiles' band indexes for the bundle's bands (default: the "
                              "bundle's)")
    predict.add_argument("--force", action="store_true", help="rerun every stage")
    predict.add_argument("--quiet", action="store_true", help="no log lines on the console")
    cli_run.add_run_options(predict)


def prediction_config(args: argparse.Namespace) -> Any:
    """The prediction run's config, as a YAML file with ``bundle:`` would give it."""
    from pipeline.config.schema import parse_config

    tiles: dict[str, Any] = {"path": str(args.tiles.absolute())}
    if args.bands:
        tiles["bands"] = args.bands
    data = {"name": args.name, "run_dir": str(args.out.absolute()),
            "bundle": str(args.bundle.absolute()), "data": {"tiles": tiles}}
    return parse_config(data, base_dir=Path.cwd(), origin="predict")


def cmd_bundle(args: argparse.Namespace) -> int:
    from pipeline.bundles.format import CARD_MD
    from pipeline.runs.bundling import bundle_run

    out = bundle_run(args.run_dir, args.out)
    print(f"bundle: {out}   model card: {out / CARD_MD}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from pipeline.cli.checks import check_inputs
    from pipeline.engine.runner import run_pipeline
    from pipeline.runs.summary import summarize
    from pipeline.stages import PREDICTION_PIPELINE

    config = cli_run.apply_run_options(prediction_config(args), args)
    check_inputs(config)
    outcomes = run_pipeline(config, PREDICTION_PIPELINE, force=args.force, quiet=args.quiet)
    print(summarize(config.run_dir, outcomes))
    return 0


COMMANDS = {"bundle": cmd_bundle, "predict": cmd_predict}
