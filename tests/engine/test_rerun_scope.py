"""What a config change reruns on a finished tiny run: exactly the stages whose outputs change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline.config.schema import Config, load_config
from pipeline.engine.runner import run_pipeline


def changed_copy(finished_run: Path, folder: Path, **sections: dict) -> Config:
    """A copy of the finished run (mtimes kept) and its config with ``sections`` updated."""
    run_dir = folder / "run"
    shutil.copytree(finished_run, run_dir)
    data = yaml.safe_load((run_dir / "config.yaml").read_text())
    data["run_dir"] = str(run_dir)
    for key, value in sections.items():
        if isinstance(value, dict):
            data[key].update(value)
        else:
            data[key] = value
    (folder / "c.yaml").write_text(yaml.safe_dump(data))
    return load_config(folder / "c.yaml", env={})


@pytest.mark.slow  # a finished tiny run, then stages rerun
def test_renaming_the_run_reruns_only_export_and_retitles_map_and_report(
        finished_run, tmp_path, spied_pipeline):
    stages, calls = spied_pipeline
    config = changed_copy(finished_run, tmp_path, name="renamed-run")
    outcomes = run_pipeline(config, stages, quiet=True, progress=False)
    assert calls == ["export"]
    assert [o.reason for o in outcomes if o.status == "done"] == ["config name changed"]
    export = config.run_dir / "export"
    assert "<title>Run report: renamed-run</title>" in (export / "report.html").read_text()
    assert "Run report: tiny" not in (export / "report.html").read_text()
    assert (export / "map.png").read_bytes() != (finished_run / "export" / "map.png").read_bytes()


@pytest.mark.slow  # a finished tiny run, then stages rerun
def test_min_tiles_reruns_what_its_usable_clusters_change_and_no_more(finished_run, tmp_path,
                                                                     spied_pipeline):
    stages, calls = spied_pipeline
    clusters = pd.read_parquet(finished_run / "aggregate" / "clusters.parquet")
    fewest = int(clusters.loc[clusters["usable"], "n_tiles"].min())
    assert fewest >= 2  # so a min_tiles of `fewest` keeps every usable cluster usable
    config = changed_copy(finished_run, tmp_path / "same", aggregate={"min_tiles": fewest})
    outcomes = run_pipeline(config, stages, quiet=True, progress=False)
    assert calls == ["aggregate"]  # aggregate wrote the same files: nothing downstream reruns
    assert [o.reason for o in outcomes if o.status == "done"] == [
        "config aggregate.min_tiles changed"]
    grid = config.run_dir / "predict" / "grid.parquet"
    assert grid.stat().st_mtime_ns == (finished_run / "predict" / "grid.parquet").stat().st_mtime_ns

    calls.clear()
    median = int(clusters.loc[clusters["usable"], "n_tiles"].median())
    assert median > fewest
    config = changed_copy(finished_run, tmp_path / "fewer", aggregate={"min_tiles": median})
    outcomes = run_pipeline(config, stages, quiet=True, progress=False)
    assert calls == ["aggregate", "fit", "predict", "export"]  # fewer clusters: a new model
    assert {o.name: o.reason for o in outcomes if o.status == "done"} == {
        "aggregate": "config aggregate.min_tiles changed", "fit": "upstream aggregate changed",
        "predict": "upstream fit changed", "export": "upstream aggregate, fit, predict changed"}
    usable = pd.read_parquet(config.run_dir / "aggregate" / "clusters.parquet")["usable"]
    assert usable.sum() < clusters["usable"].sum()
