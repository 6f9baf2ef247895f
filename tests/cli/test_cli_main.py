"""The parser itself: light to import, --version, stage choices, the exit codes in --help."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

from pipeline import errors
from pipeline.cli import export as cli_export, run as cli_run
from pipeline.cli.exit_codes import EPILOG, EXIT_CODES, INTERRUPTED
from pipeline.cli.main import _parser, main
from pipeline.cli.stage_names import STAGE_NAMES
from pipeline.engine.manifest import package_version

HEAVY = ("tensorflow", "keras", "geopandas", "rasterio", "dask", "matplotlib", "pandas",
         "pipeline.engine.runner", "pipeline.stages")


def test_building_the_parser_imports_nothing_heavy():
    # a fresh interpreter: this test process has imported everything already
    code = ("import sys, json; from pipeline.cli.main import _parser; p = _parser(); "
            "p.format_help(); "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            f"{HEAVY!r} or m in {HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert json.loads(out.stdout) == []


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"poverty-pipeline {package_version()}\n"


def test_stage_names_are_the_pipelines_stages_in_order():
    from pipeline.stages import PIPELINE

    assert STAGE_NAMES == tuple(stage.name for stage in PIPELINE)


def test_an_unknown_stage_is_refused_with_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "config.yaml", "--until", "trian"])
    assert exit_info.value.code == errors.ConfigError.exit_code
    err = capsys.readouterr().err
    assert "argument --until: invalid choice: 'trian'" in err and "'train'" in err
    assert _parser().parse_args(["run", "c.yaml", "--from", "fit"]).from_stage == "fit"


def test_export_formats_are_the_writers_formats():
    from pipeline.outputs.formats import FORMATS

    assert cli_export.FORMATS == FORMATS


def test_run_id_without_a_value_means_auto():
    from pipeline.runs.listing import AUTO

    assert _parser().parse_args(["run", "c.yaml", "--run-id"]).run_id == cli_run.AUTO_RUN_ID == AUTO


def test_every_exit_code_is_listed_in_the_help():
    codes = {cls.exit_code for _, cls in inspect.getmembers(errors, inspect.isclass)
             if issubclass(cls, errors.PipelineError)}
    listed = [code for code, _ in EXIT_CODES]
    assert codes | {0, INTERRUPTED} == set(listed) and len(listed) == len(set(listed))
    for parser in (_parser(), _parser()._subparsers._group_actions[0].choices["run"]):
        help_text = parser.format_help()
        assert help_text.endswith(EPILOG + "\n")
        assert "  5    another live run holds the run directory's lock" in help_text
