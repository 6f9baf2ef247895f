"""``poverty-pipeline config schema|reference``: the config's JSON Schema and reference page.

Both are generated from the field descriptions of :mod:`pipeline.config` by
:mod:`pipeline.config.reference`; nothing here imports TensorFlow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``config`` command group."""
    config = sub.add_parser("config", help="the config's JSON Schema, or its reference page")
    group = config.add_subparsers(dest="config_command", required=True)
    group.add_parser("schema", help="print the JSON Schema of a config file, for editors that "
                                    "complete and check YAML")
    reference = group.add_parser("reference", help="print docs/configuration.md, generated "
                                                   "from the config's field descriptions")
    reference.add_argument("--out", type=Path, metavar="FILE",
                           help="write it to FILE instead (only when it changed)")


def cmd_config(args: argparse.Namespace) -> int:
    from pipeline.config.reference import json_schema_text, markdown, write_markdown

    if args.config_command == "schema":
        sys.stdout.write(json_schema_text())
    elif args.out is None:
        sys.stdout.write(markdown())
    else:
        changed = write_markdown(args.out)
        print(f"{args.out}: {'written' if changed else 'up to date'}")
    return 0


COMMANDS = {"config": cmd_config}
