"""Command line: ``poverty-pipeline run|validate|status|demo|data|init|runs|export|fit-features|
bundle|predict|change|config``.

Thin: it parses arguments, calls into the runner, and turns the project's errors into one-line
messages and exit codes (:mod:`pipeline.cli.exit_codes`, also printed by ``--help``). Only
here are errors caught broadly. Each command group is one module of :mod:`pipeline.cli` with ``add_parsers`` and
``COMMANDS``, registered here in :data:`GROUPS`; a group imports what is heavy (TensorFlow,
geopandas, the runner) inside its commands, so ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pipeline.cli import (
    bundle as cli_bundle,
    change as cli_change,
    config as cli_config,
    data as cli_data,
    export as cli_export,
    fit as cli_fit,
    run as cli_run,
    runs as cli_runs,
)
from pipeline.cli.exit_codes import EPILOG, INTERRUPTED
from pipeline.engine.manifest import package_version
from pipeline.errors import PipelineError, StageError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DESCRIPTION = ("Predict poverty from satellite imagery (nightlight transfer learning after Jean "
               "et al. 2016): run a config's pipeline, check inputs, inspect and export runs.")

GROUPS = (cli_run, cli_data, cli_runs, cli_export, cli_fit, cli_bundle, cli_change, cli_config)
"""Every command group, in the order ``--help`` lists their commands."""
COMMANDS = {name: command for group in GROUPS for name, command in group.COMMANDS.items()}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="poverty-pipeline", description=DESCRIPTION,
                                     epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


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
        return INTERRUPTED
    except OSError as exc:  # disk full, permission denied outside a stage: name the path
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}. Free space or fix the permissions there, "
              "then rerun.", file=sys.stderr)
        return StageError.exit_code


if __name__ == "__main__":
    sys.exit(main())
