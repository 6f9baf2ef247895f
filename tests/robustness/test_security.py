"""Security rules, checked over the source: no pickle where files are read, Keras models loaded
with safe_mode, YAML safe-loaded, no shell=True, and a Docker image that runs as non-root."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted((REPO / "pipeline").rglob("*.py")) + sorted((REPO / "benchmarks").rglob("*.py"))
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal", "cloudpickle"}


def calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(
                node.func, "id", "")
            keywords = {k.arg: k.value for k in node.keywords}
            yield name, keywords, f"{path.relative_to(REPO)}:{node.lineno}"


def constant(node) -> object:
    return node.value if isinstance(node, ast.Constant) else "<not a constant>"


def test_no_pickle_modules_are_imported():
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(REPO)}: {n}" for n in names
                      if n.split(".")[0] in UNSAFE_MODULES]
    assert found == []


def test_no_call_unpickles_shells_out_or_loads_unsafely():
    bad = []
    for path in SOURCES:
        for name, keywords, where in calls(path):
            if constant(keywords.get("allow_pickle", ast.Constant(False))) is not False:
                bad.append(f"{where} allow_pickle")
            if name in ("read_pickle", "unsafe_load", "full_load", "eval", "exec"):
                bad.append(f"{where} {name}")
            if constant(keywords.get("shell", ast.Constant(False))) is not False:
                bad.append(f"{where} shell=")
            if name == "load" and "Loader" in keywords:
                bad.append(f"{where} yaml.load with a Loader")
            if name == "load_model" and constant(keywords.get("safe_mode")) is not True:
                bad.append(f"{where} load_model without safe_mode=True")
    assert bad == []


def test_numpy_refuses_pickled_object_arrays(tmp_path):
    """Every np.load in the pipeline relies on numpy's allow_pickle=False default."""
    path = tmp_path / "features.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle=False"):
        np.load(path)


def test_docker_image_runs_as_non_root():
    dockerfile = REPO / "Dockerfile"
    if not dockerfile.exists():
        pytest.skip("no Dockerfile in this checkout")
    users = re.findall(r"^USER\s+(\S+)", dockerfile.read_text(), flags=re.MULTILINE)
    assert users, "the Dockerfile never switches user"
    assert users[-1].split(":")[0] not in ("root", "0")
