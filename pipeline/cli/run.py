"""``poverty-pipeline run|validate|status``: run (or resume) a config, check it, show a run's state.

Registered by :mod:`pipeline.cli.main`. ``run``'s scheduling options (executor, Dask address,
workers, run id) are :func:`add_run_options`; the work is in :mod:`pipeline.engine.runner`,
:mod:`pipeline.engine.executor` and :mod:`pipeline.runs.listing`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pipeline.cli.exit_codes import EPILOG
from pipeline.cli.stage_names import STAGE_NAMES

AUTO_RUN_ID = "auto"
"""What ``--run-id`` without an ID stands for (:data:`pipeline.runs.listing.AUTO`)."""


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``run``, ``validate`` and ``status`` commands (``run --help`` ends with the exit
    codes)."""
    run = sub.add_parser("run", help="run (or resume) the pipeline for a config", epilog=EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("config", type=Path)
    run.add_argument("--from", dest="from_stage", metavar="STAGE", choices=STAGE_NAMES,
                     help=f"rerun this stage and every later one; one of {', '.join(STAGE_NAMES)}")
    run.add_argument("--until", dest="until_stage", metavar="STAGE", choices=STAGE_NAMES,
                     help="stop after this stage")
    run.add_argument("--force", action="store_true", help="rerun every stage")
    run.add_argument("--run-dir", type=Path, help="override the config's run_dir")
    run.add_argument("--quiet", action="store_true", help="no log lines on the console")
    add_run_options(run)
    validate = sub.add_parser("validate", help="check a config and its inputs; run nothing")
    validate.add_argument("config", type=Path)
    status = sub.add_parser("status", help="each stage's state in a run directory")
    status.add_argument("run_dir", type=Path)


def add_run_options(run: argparse.ArgumentParser) -> None:
    """``--executor``, ``--dask-address``, ``--workers`` and ``--run-id`` on the ``run`` parser."""
    run.add_argument("--executor", choices=("local", "dask"),
                     help="override the config's executor.kind")
    run.add_argument("--dask-address", metavar="ADDRESS",
                     help="Dask scheduler, e.g. tcp://scheduler:8786 (default: a LocalCluster)")
    run.add_argument("--workers", type=int, metavar="N",
                     help="workers of the LocalCluster started when there is no address")
    run.add_argument("--run-id", nargs="?", const=AUTO_RUN_ID, metavar="ID",
                     help="write the run to <parent of run_dir>/ID instead of run_dir; "
                          "without ID: <name>-<UTC time>, e.g. demo-20250101T020000Z")


def load(path: Path, run_dir: Path | None = None) -> Any:
    """The validated config at ``path`` (a :class:`pipeline.config.schema.Config`), with
    ``--run-dir`` applied."""
    from pipeline.config.schema import load_config

    config = load_config(path)
    if run_dir is not None:
        config = config.model_copy(update={"run_dir": run_dir.absolute()})
    return config


def apply_run_options(config: Any, args: argparse.Namespace) -> Any:
    """The config with ``run``'s executor and run-id options applied."""
    from pipeline.engine.executor import override_executor
    from pipeline.runs.listing import resolve_run_dir

    config = override_executor(config, args.executor, args.dask_address, args.workers)
    return resolve_run_dir(config, args.run_id)


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.cli.checks import check_inputs
    from pipeline.engine.runner import run_pipeline
    from pipeline.runs.summary import summarize
    from pipeline.stages import pipeline_for

    config = apply_run_options(load(args.config, args.run_dir), args)
    check_inputs(config)
    outcomes = run_pipeline(config, pipeline_for(config), from_stage=args.from_stage,
                            until_stage=args.until_stage, force=args.force, quiet=args.quiet)
    print(summarize(config.run_dir, outcomes))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from pipeline.cli.checks import check_inputs

    found = check_inputs(load(args.config))
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
    stages = pipeline_for(load(run.config_file)) if run.config_file.exists() else PIPELINE
    for row in stage_status(args.run_dir, stages):
        seconds = "" if row["seconds"] is None else f"{row['seconds']:8.1f} s"
        print(f"{row['stage']:<10} {row['status']:<8} {seconds:>10}  "
              f"{row['finished'] or '':<25} {row['fingerprint'] or ''}")
    return 0


COMMANDS = {"run": cmd_run, "validate": cmd_validate, "status": cmd_status}
