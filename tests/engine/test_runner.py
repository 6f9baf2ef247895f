"""Runner behaviour on a graph of tiny fake stages: skipping, reruns, atomicity, lock."""

import json
import os
import types
from pathlib import Path

import pytest

from pipeline.config.schema import parse_config
from pipeline.errors import ConfigError, LockError, StageError
from pipeline.engine.runner import run_pipeline

CALLS: list[str] = []


def make_stage(name, inputs, config_keys, fail=None):
    def run(ctx):
        CALLS.append(name)
        if fail is not None and fail():
            raise RuntimeError("boom")
        for up in inputs:
            ctx.input(up, "out.txt")
        (ctx.out / "out.txt").write_text(f"{name} {ctx.config.aggregate.radius_km}")
        return {"n": 1}

    return types.SimpleNamespace(NAME=name, VERSION=1, INPUTS=inputs, OUTPUTS=("out.txt",),
                                 CONFIG=config_keys, input_files=lambda config: [], run=run)


@pytest.fixture
def graph():
    CALLS.clear()
    return [
        make_stage("a", (), ("data.tiles",)),
        make_stage("b", ("a",), ("aggregate",)),
        make_stage("c", ("b",), ("regression",)),
    ]


def config(tmp_path, **overrides):
    data = {
        "name": "t", "run_dir": "run",
        "data": {"tiles": {"path": "tiles"}, "nightlights": {"path": "nl.tif"},
                 "survey": {"path": "s.csv", "outcomes": ["y"]}},
        "regression": {"targets": [{"column": "y"}]},
    }
    data.update(overrides)
    return parse_config(data, base_dir=tmp_path)


def test_second_run_skips_everything(tmp_path, graph):
    run_pipeline(config(tmp_path), stages=graph, quiet=True)
    assert CALLS == ["a", "b", "c"]
    outcomes = run_pipeline(config(tmp_path), stages=graph, quiet=True)
    assert CALLS == ["a", "b", "c"]
    assert [o.status for o in outcomes] == ["skipped"] * 3
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert {s["status"] for s in manifest["stages"].values()} == {"skipped"}


def test_changing_one_section_reruns_downstream_only(tmp_path, graph):
    run_pipeline(config(tmp_path), stages=graph, quiet=True)
    CALLS.clear()
    run_pipeline(config(tmp_path, aggregate={"radius_km": 2}), stages=graph, quiet=True)
    assert CALLS == ["b", "c"]
    assert (tmp_path / "run" / "b" / "out.txt").read_text() == "b 2.0"
    log = [json.loads(line) for line in (tmp_path / "run" / "run.log").read_text().splitlines()]
    reasons = [e.get("reason") for e in log if e.get("stage") == "b" and e.get("reason")]
    assert reasons[-1] == "config aggregate.radius_km changed"
    assert [e["reason"] for e in log if e.get("stage") == "c" and "reason" in e][-1] == "upstream b changed"


def test_cosmetic_field_does_not_rerun(tmp_path, graph):
    graph[1].CONFIG = ("features",)
    run_pipeline(config(tmp_path), stages=graph, quiet=True)
    CALLS.clear()
    run_pipeline(config(tmp_path, features={"batch_size": 7}), stages=graph, quiet=True)
    assert CALLS == []


def test_from_until_and_force(tmp_path, graph):
    run_pipeline(config(tmp_path), stages=graph, quiet=True, until_stage="b")
    assert CALLS == ["a", "b"]
    CALLS.clear()
    run_pipeline(config(tmp_path), stages=graph, quiet=True, from_stage="b")
    assert CALLS == ["b", "c"]
    CALLS.clear()
    run_pipeline(config(tmp_path), stages=graph, quiet=True, force=True)
    assert CALLS == ["a", "b", "c"]
    with pytest.raises(ConfigError, match="unknown stage 'z'; choose one of: a, b, c"):
        run_pipeline(config(tmp_path), stages=graph, quiet=True, from_stage="z")


def test_failed_stage_keeps_previous_output_and_reruns(tmp_path, graph):
    run_pipeline(config(tmp_path), stages=graph, quiet=True)
    failing = [True]
    graph[1] = make_stage("b", ("a",), ("aggregate",), fail=lambda: failing[0])
    with pytest.raises(StageError, match="stage b failed: RuntimeError: boom"):
        run_pipeline(config(tmp_path, aggregate={"radius_km": 3}), stages=graph, quiet=True)
    assert (tmp_path / "run" / "b" / "out.txt").read_text() == "b 5.0"
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stages"]["b"]["status"] == "failed"
    failing[0] = False
    CALLS.clear()
    run_pipeline(config(tmp_path, aggregate={"radius_km": 3}), stages=graph, quiet=True)
    assert CALLS == ["b", "c"]
    assert (tmp_path / "run" / "b" / "out.txt").read_text() == "b 3.0"


def test_missing_output_file_reruns(tmp_path, graph):
    run_pipeline(config(tmp_path), stages=graph, quiet=True)
    (tmp_path / "run" / "c" / "out.txt").unlink()
    CALLS.clear()
    run_pipeline(config(tmp_path), stages=graph, quiet=True)
    assert CALLS == ["c"]


def test_partial_tmp_output_is_removed(tmp_path, graph):
    run_pipeline(config(tmp_path), stages=graph, quiet=True)
    partial = tmp_path / "run" / ".tmp-b"
    partial.mkdir()
    (partial / "out.txt").write_text("half")
    run_pipeline(config(tmp_path), stages=graph, quiet=True)
    assert not partial.exists()


def test_live_lock_refuses_and_stale_lock_is_taken(tmp_path, graph):
    import socket

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lock = run_dir / ".lock"
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    with pytest.raises(LockError, match=f"pid {os.getpid()}"):
        run_pipeline(config(tmp_path), stages=graph, quiet=True)
    lock.write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname()}))
    run_pipeline(config(tmp_path), stages=graph, quiet=True)
    assert CALLS == ["a", "b", "c"]
    assert not lock.exists()


def test_a_rerun_upstream_stage_reruns_its_downstream(tmp_path, graph):
    run_pipeline(config(tmp_path), stages=graph, quiet=True)
    manifest_path = tmp_path / "run" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["stages"]["b"]["status"] = "failed"
    manifest_path.write_text(json.dumps(manifest))
    CALLS.clear()
    run_pipeline(config(tmp_path), stages=graph, quiet=True)
    assert CALLS == ["b", "c"]


def keyed_like(stage):
    """A fake stage with the real ``stage``'s keys: CONFIG, INPUTS, input_files and any
    config-dependent ``config_keys`` / ``inputs``."""
    fake = make_stage(stage.NAME, stage.INPUTS, stage.CONFIG)
    fake.input_files = stage.input_files
    for hook in ("config_keys", "inputs"):
        if hasattr(stage, hook):
            setattr(fake, hook, getattr(stage, hook))
    return fake


@pytest.fixture
def real_graph():
    from pipeline.stages import STAGES

    CALLS.clear()
    return [keyed_like(stage) for stage in STAGES]


TWO_OUTCOMES = {"tiles": {"path": "tiles"}, "nightlights": {"path": "nl.tif"},
                "survey": {"path": "s.csv", "outcomes": ["y", "z"]}}


def rerun(tmp_path, real_graph, **overrides):
    """Run the real-keyed graph on a changed config; {stage: reason} of the stages that ran."""
    CALLS.clear()
    outcomes = run_pipeline(config(tmp_path, **overrides), stages=real_graph, quiet=True)
    return {o.name: o.reason for o in outcomes if o.status == "done"}


def test_seed_reruns_only_the_stages_that_draw_random_numbers(tmp_path, real_graph):
    run_pipeline(config(tmp_path), stages=real_graph, quiet=True)
    assert rerun(tmp_path, real_graph, seed=1) == {
        "label": "config seed changed", "train": "config seed changed",
        "extract": "upstream train changed", "baselines": "config seed changed",
        "aggregate": "upstream label, extract, baselines changed", "fit": "config seed changed",
        "predict": "upstream extract, fit changed",
        "export": "upstream train, aggregate, fit, predict changed"}



def test_payloads_recorded_with_the_seed_beside_the_config_still_match(tmp_path, real_graph):
    run_pipeline(config(tmp_path), stages=real_graph, quiet=True)
    path = tmp_path / "run" / "manifest.json"
    manifest = json.loads(path.read_text())
    for entry in manifest["stages"].values():  # as written before stages declared the seed
        entry["payload"]["config"].pop("seed", None)
        entry["payload"]["seed"] = 0
    path.write_text(json.dumps(manifest))
    assert rerun(tmp_path, real_graph) == {}
    assert rerun(tmp_path, real_graph, seed=1)["label"] == "config seed changed"


def test_frozen_extract_ignores_training_settings(tmp_path, real_graph):
    frozen = {"mode": "frozen"}
    run_pipeline(config(tmp_path, features=frozen), stages=real_graph, quiet=True)
    assert rerun(tmp_path, real_graph, features=frozen, model={"head_epochs": 5}) == {
        "train": "config model.head_epochs changed", "export": "upstream train changed"}
    reasons = rerun(tmp_path, real_graph, features=frozen, model={"head_epochs": 5,
                                                                  "input_size_px": 96})
    assert reasons["extract"] == "config model.input_size_px changed"
    assert reasons["baselines"] == "config model.input_size_px changed"
    finetuned = rerun(tmp_path, real_graph, model={"head_epochs": 5, "input_size_px": 96})
    assert finetuned["extract"] == "config features.mode changed"



def test_a_frozen_extract_recorded_with_all_of_model_still_matches(tmp_path, real_graph):
    from pipeline.engine.fingerprint import config_payload

    frozen = {"mode": "frozen"}
    run_pipeline(config(tmp_path, features=frozen), stages=real_graph, quiet=True)
    path = tmp_path / "run" / "manifest.json"
    manifest = json.loads(path.read_text())
    old = manifest["stages"]["extract"]["payload"]  # as written when extract keyed all of model
    old["config"] = {"features": old["config"]["features"],
                     "model": config_payload(config(tmp_path).model)}
    old["seed"] = 0
    path.write_text(json.dumps(manifest))
    assert rerun(tmp_path, real_graph, features=frozen) == {}


def test_a_new_target_reruns_ingest_only_when_it_is_logged(tmp_path, real_graph):
    one = {"targets": [{"column": "y", "log": True}]}
    run_pipeline(config(tmp_path, data=TWO_OUTCOMES, regression=one), stages=real_graph,
                 quiet=True)
    plain = {"targets": [{"column": "y", "log": True}, {"column": "z"}]}
    assert rerun(tmp_path, real_graph, data=TWO_OUTCOMES, regression=plain) == {
        "fit": "config regression.targets changed", "predict": "upstream fit changed",
        "export": "upstream fit, predict changed"}
    logged = {"targets": [{"column": "y", "log": True}, {"column": "z", "log": True}]}
    reasons = rerun(tmp_path, real_graph, data=TWO_OUTCOMES, regression=logged)
    assert reasons["ingest"] == "config regression.log_columns changed"
    assert CALLS == [stage.NAME for stage in real_graph]


def test_an_unused_population_raster_is_not_an_input(tmp_path, real_graph):
    population = tmp_path / "pop.tif"
    population.write_text("people")
    unweighted = {"population": "pop.tif"}
    run_pipeline(config(tmp_path, aggregate=unweighted), stages=real_graph, quiet=True)
    population.write_text("more people")
    assert rerun(tmp_path, real_graph, aggregate=unweighted) == {}
    weighted = {"population": "pop.tif", "weight": "population"}
    run_pipeline(config(tmp_path, aggregate=weighted), stages=real_graph, quiet=True)
    population.write_text("even more people")
    assert rerun(tmp_path, real_graph, aggregate=weighted) == {
        "aggregate": "input files changed", "fit": "upstream aggregate changed",
        "predict": "upstream fit changed", "export": "upstream aggregate, fit, predict changed"}
