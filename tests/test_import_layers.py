"""The import layers of pyproject.toml's import-linter contract hold (`lint-imports`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = ("import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", LINT], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def test_imports_only_go_down():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 1 kept, 0 broken." in result.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(tmp_path):
    shutil.copytree(ROOT / "pipeline", tmp_path / "pipeline",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with open(tmp_path / "pipeline" / "geo" / "blocks.py", "a") as module:
        module.write("\nfrom pipeline.outputs import figures  # runs up: geo -> outputs\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pipeline.geo is not allowed to import pipeline.outputs" in result.stdout
    assert "pipeline.geo.blocks -> pipeline.outputs.figures" in result.stdout


def test_every_package_has_a_layer():
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads TOML")
    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in contract["contracts"] if c["id"] == "layers"]
    named = {name.strip() for layer in layers for name in layer.split("|")}
    found = {path.stem for path in (ROOT / "pipeline").iterdir()
             if path.name != "__pycache__" and (path.suffix == ".py" or path.is_dir())}
    assert found - {"__init__", "__main__"} == named
