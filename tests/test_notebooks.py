"""The analyst notebooks run top to bottom against a finished tiny run."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # notebooks over a finished run

nbformat = pytest.importorskip("nbformat", reason="nbformat is a dev extra (pip install -e '.[dev]')")
nbclient = pytest.importorskip("nbclient", reason="nbclient is a dev extra (pip install -e '.[dev]')")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def execute(name: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    return notebook


def text_of(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_notebooks_are_committed_without_outputs():
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == ["01_quickstart.ipynb", "02_evaluate.ipynb", "03_custom_region.ipynb",
                     "04_bundle_and_change.ipynb"]
    for name in names:
        notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
        assert all(not c.get("outputs") for c in notebook.cells if c.cell_type == "code"), name


@pytest.fixture
def own_copy(finished_run: Path, tmp_path: Path) -> Path:
    """A copy of the finished run whose config writes into the copy: the quickstart reruns the
    pipeline, which records its stages as skipped, and the shared run must stay as it was."""
    import shutil

    import yaml

    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy, symlinks=True)
    config = yaml.safe_load((copy / "config.yaml").read_text())
    config["run_dir"] = str(copy)
    (copy / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return copy


def test_quickstart_runs_the_pipeline_and_draws_the_map(own_copy, monkeypatch):
    monkeypatch.setenv("POVERTY_PIPELINE_CONFIG", str(own_copy / "config.yaml"))
    notebook = execute("01_quickstart.ipynb")
    text = text_of(notebook)
    assert "'skipped'" in text and "'done'" not in text.split("('ingest'")[1].split("]")[0]
    images = [o for c in notebook.cells for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, "the map was not displayed"
    assert "predictions.tif" in text and "report.html" in text


def test_evaluate_compares_model_and_baselines(finished_run, monkeypatch):
    monkeypatch.setenv("POVERTY_PIPELINE_RUN", str(finished_run))
    text = text_of(execute("02_evaluate.ipynb"))
    assert "model" in text and "nightlights" in text and "cv_predicted_" in text
    assert "r2_gain_ci_low" in text and "share_better" in text  # the paired gains table


def test_custom_region_exports_h3_regular_and_admin(finished_run, monkeypatch, tmp_path):
    monkeypatch.setenv("POVERTY_PIPELINE_RUN", str(finished_run))
    monkeypatch.setenv("POVERTY_PIPELINE_OUT", str(tmp_path))
    execute("03_custom_region.ipynb")
    for name in ("predictions.gpkg", "predictions.csv", "map.png", "predictions.tif"):
        assert (tmp_path / "h3" / name).exists(), name
    import pandas as pd

    districts = pd.read_csv(tmp_path / "districts" / "predictions.csv")
    assert sorted(districts["cell_id"]) == ["East", "West"]
    assert districts["n_tiles"].sum() == 100


def test_bundle_notebook_maps_a_region_without_survey_and_its_change(finished_run, monkeypatch,
                                                                    tmp_path):
    monkeypatch.setenv("POVERTY_PIPELINE_RUN", str(finished_run))
    monkeypatch.setenv("POVERTY_PIPELINE_OUT", str(tmp_path))
    notebook = execute("04_bundle_and_change.ipynb")
    text = text_of(notebook)
    assert "# Model card" in text and "checksums.json" in text and "ood_asset_index" in text
    assert "share_quintile_moved" in text and "planted tiles" in text
    images = [o for c in notebook.cells for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the map and the change map
    assert (tmp_path / "region-year-2" / "export" / "report.html").is_file()
