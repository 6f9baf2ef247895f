"""The library packages below the stages take plain values: none imports the config schema.

Only the stages and the CLI (and the engine and runs) know ``pipeline.config``; they translate
config sections into the plain parameters of ``geo``, ``tiles``, ``survey``, ``models``,
``evaluation``, ``outputs``, ``bundles`` and ``demo``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"
PLAIN = ("geo", "tiles", "survey", "models", "evaluation", "outputs", "bundles", "demo")
ABOVE = ("pipeline.config", "pipeline.stages", "pipeline.engine", "pipeline.cli", "pipeline.runs")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, nested ones (in functions, TYPE_CHECKING)
    included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, node.module)]
            if node.module == "pipeline":
                found += [(node.lineno, f"pipeline.{alias.name}") for alias in node.names]
    return found


def upward_imports(package: str) -> list[str]:
    return [f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}"
            for path in sorted((PACKAGE / package).rglob("*.py"))
            for line, module in imported_modules(path)
            if any(module == top or module.startswith(top + ".") for top in ABOVE)]


@pytest.mark.parametrize("package", PLAIN)
def test_library_packages_import_no_config_and_nothing_above_them(package):
    assert (PACKAGE / package / "__init__.py").is_file()
    assert upward_imports(package) == []


def test_the_scan_finds_an_upward_import(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                    "    from pipeline.config.schema import Config\n"
                    "def f():\n    import pipeline.stages.ingest\n"
                    "from pipeline import config\n")
    assert sorted(imported_modules(path)) == [
        (1, "typing"), (3, "pipeline.config.schema"), (5, "pipeline.stages.ingest"),
        (6, "pipeline"), (6, "pipeline.config")]
