"""Command line: ``poverty-pipeline run|validate|status|demo|data|init|export|fit-features|bundle|predict|change``.

Thin: it parses arguments, calls into the runner, and turns the project's errors into one-line
messages and exit codes: 0 ok, 2 bad config or input, 3 data verification failed, 4 a stage
failed, 5 another run holds the lock. Only here are errors caught broadly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline.cli import config as cli_config
from pipeline.cli import bundle as cli_bundle, change as cli_change
from pipeline.cli import data as cli_data, export as cli_export, fit as cli_fit, runs as cli_runs
from pipeline.errors import PipelineError, StageError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="poverty-pipeline", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run (or resume) the pipeline for a config")
    run.add_argument("config", type=Path)
    run.add_argument("--from", dest="from_stage", metavar="STAGE",
                     help="rerun this stage and every later one")
    run.add_argument("--until", dest="until_stage", metavar="STAGE", help="stop after this stage")
    run.add_argument("--force", action="store_true", help="rerun every stage")
    run.add_argument("--run-dir", type=Path, help="override the config's run_dir")
    run.add_argument("--quiet", action="store_true", help="no log lines on the console")
    cli_runs.add_run_options(run)
    validate = sub.add_parser("validate", help="check a config and its inputs; run nothing")
    validate.add_argument("config", type=Path)
    status = sub.add_parser("status", help="each stage's state in a run directory")
    status.add_argument("run_dir", type=Path)
    demo = sub.add_parser("demo", help="write the embedded demo world (if absent)")
    demo.add_argument("out", type=Path, nargs="?", default=Path("data/demo"))
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--tiles", type=int, default=40, help="tiles per side")
    cli_data.add_parsers(sub)
    cli_runs.add_parsers(sub)
    cli_export.add_parsers(sub)
    cli_fit.add_parsers(sub)
    cli_config.add_parsers(sub)
    cli_bundle.add_parsers(sub)
    cli_change.add_parsers(sub)
    return parser


def _load(path: Path, run_dir: Path | None = None):  # noqa: ANN202 - returns Config
    from pipeline.config.schema import load_config

    config = load_config(path)
    if run_dir is not None:
        config = config.model_copy(update={"run_dir": run_dir.absolute()})
    return config


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.cli.checks import check_inputs
    from pipeline.engine.runner import run_pipeline
    from pipeline.runs.summary import summarize
    from pipeline.stages import pipeline_for

    config = cli_runs.apply_run_options(_load(args.config, args.run_dir), args)
    check_inputs(config)
    outcomes = run_pipeline(config, pipeline_for(config), from_stage=args.from_stage,
                            until_stage=args.until_stage, force=args.force, quiet=args.quiet)
    print(summarize(config.run_dir, outcomes))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from pipeline.cli.checks import check_inputs

    found = check_inputs(_load(args.config))
    print(f"{args.config}: valid. " + ", ".join(f"{k}: {v}" for k, v in found.items()))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from pipeline.engine.rundir import RunDir
    from pipeline.engine.runner import stage_status
    from pipeline.stages import PIPELINE, pipeline_for

    run = RunDir(args.run_dir)
    if not run.is_run():
        print(f"{args.run_dir}: no manifest.json; nothing has run there yet.", file=sys.stderr)
        return 2
    stages = pipeline_for(_load(run.config_file)) if run.config_file.exists() else PIPELINE
    for row in stage_status(args.run_dir, stages):
        seconds = "" if row["seconds"] is None else f"{row['seconds']:8.1f} s"
        print(f"{row['stage']:<10} {row['status']:<8} {seconds:>10}  "
              f"{row['finished'] or '':<25} {row['fingerprint'] or ''}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pipeline.demo import WorldSpec, generate_world

    spec = WorldSpec(seed=args.seed, n_tiles_x=args.tiles, n_tiles_y=args.tiles)
    out = generate_world(args.out, spec)
    print(json.dumps({"world": str(out), "seed": args.seed, "tiles": args.tiles**2}))
    return 0


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "status": cmd_status, "demo": cmd_demo}
COMMANDS.update(cli_data.COMMANDS)
COMMANDS.update(cli_runs.COMMANDS)
COMMANDS.update(cli_export.COMMANDS)
COMMANDS.update(cli_fit.COMMANDS)
COMMANDS.update(cli_config.COMMANDS)
COMMANDS.update(cli_bundle.COMMANDS)
COMMANDS.update(cli_change.COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``poverty-pipeline`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume.", file=sys.stderr)
        return 130
    except OSError as exc:  # disk full, permission denied outside a stage: name the path
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}. Free space or fix the permissions there, "
              "then rerun.", file=sys.stderr)
        return StageError.exit_code


if __name__ == "__main__":
    sys.exit(main())
