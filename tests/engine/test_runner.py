"""Runner behaviour on a graph of tiny fake stages: skipping, reruns, atomicity, lock."""

import dataclasses
import json
import os
from pathlib import Path

import pytest

from pipeline.config.schema import parse_config
from pipeline.errors import ConfigError, LockError, StageError
from pipeline.engine.fingerprint import iter_files
from pipeline.engine.runner import run_pipeline
from pipeline.engine.stage import Stage

CALLS: list[str] = []


def fake_run(name, fail=None):
    """A stage body whose output is a function of what the stage reads: its declared config
    values, its upstream outputs and its input files (so an output changes exactly when its
    inputs do)."""

    def run(ctx):
        CALLS.append(name)
        if fail is not None and fail():
            raise RuntimeError("boom")
        upstream = [ctx.input(up, "out.txt").read_text() for up in ctx.upstream]
        config = json.dumps(ctx.config_values, sort_keys=True, default=str)
        files = iter_files(ctx.stage.input_files(ctx.config))
        (ctx.out / "out.txt").write_text(f"{name} {config} <- {upstream} {files}")
        return {"n": 1}

    return run


def make_stage(name, inputs, config_keys, fail=None):
    return Stage(name=name, version=1, inputs=inputs, outputs=("out.txt",), config=config_keys,
                 run=fake_run(name, fail))


def radius_of(run_dir, stage):
    """The ``aggregate.radius_km`` a fake stage that declared ``aggregate`` wrote."""
    text = (run_dir / stage / "out.txt").read_text()
    return json.loads(text.split(" ", 1)[1].split(" <- ")[0])["aggregate"]["radius_km"]


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
    run_pipeline(config(tmp_path), graph, quiet=True)
    assert CALLS == ["a", "b", "c"]
    outcomes = run_pipeline(config(tmp_path), graph, quiet=True)
    assert CALLS == ["a", "b", "c"]
    assert [o.status for o in outcomes] == ["skipped"] * 3
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert {s["status"] for s in manifest["stages"].values()} == {"skipped"}


def test_changing_one_section_reruns_downstream_only(tmp_path, graph):
    run_pipeline(config(tmp_path), graph, quiet=True)
    CALLS.clear()
    run_pipeline(config(tmp_path, aggregate={"radius_km": 2}), graph, quiet=True)
    assert CALLS == ["b", "c"]
    assert radius_of(tmp_path / "run", "b") == 2.0
    log = [json.loads(line) for line in (tmp_path / "run" / "run.log").read_text().splitlines()]
    reasons = [e.get("reason") for e in log if e.get("stage") == "b" and e.get("reason")]
    assert reasons[-1] == "config aggregate.radius_km changed"
    assert [e["reason"] for e in log if e.get("stage") == "c" and "reason" in e][-1] == "upstream b changed"


def test_cosmetic_field_does_not_rerun(tmp_path, graph):
    graph[1] = dataclasses.replace(graph[1], config=("features",))
    run_pipeline(config(tmp_path), graph, quiet=True)
    CALLS.clear()
    run_pipeline(config(tmp_path, features={"batch_size": 7}), graph, quiet=True)
    assert CALLS == []


def test_from_until_and_force(tmp_path, graph):
    run_pipeline(config(tmp_path), graph, quiet=True, until_stage="b")
    assert CALLS == ["a", "b"]
    CALLS.clear()
    run_pipeline(config(tmp_path), graph, quiet=True, from_stage="b")
    assert CALLS == ["b", "c"]
    CALLS.clear()
    run_pipeline(config(tmp_path), graph, quiet=True, force=True)
    assert CALLS == ["a", "b", "c"]
    with pytest.raises(ConfigError, match="unknown stage 'z'; choose one of: a, b, c"):
        run_pipeline(config(tmp_path), graph, quiet=True, from_stage="z")


def test_failed_stage_keeps_previous_output_and_reruns(tmp_path, graph):
    run_pipeline(config(tmp_path), graph, quiet=True)
    failing = [True]
    graph[1] = make_stage("b", ("a",), ("aggregate",), fail=lambda: failing[0])
    with pytest.raises(StageError, match="stage b failed: RuntimeError: boom"):
        run_pipeline(config(tmp_path, aggregate={"radius_km": 3}), graph, quiet=True)
    assert radius_of(tmp_path / "run", "b") == 5.0
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stages"]["b"]["status"] == "failed"
    failing[0] = False
    CALLS.clear()
    run_pipeline(config(tmp_path, aggregate={"radius_km": 3}), graph, quiet=True)
    assert CALLS == ["b", "c"]
    assert radius_of(tmp_path / "run", "b") == 3.0


def test_missing_output_file_reruns(tmp_path, graph):
    run_pipeline(config(tmp_path), graph, quiet=True)
    (tmp_path / "run" / "c" / "out.txt").unlink()
    CALLS.clear()
    run_pipeline(config(tmp_path), graph, quiet=True)
    assert CALLS == ["c"]


def test_partial_tmp_output_is_removed(tmp_path, graph):
    run_pipeline(config(tmp_path), graph, quiet=True)
    partial = tmp_path / "run" / ".tmp-b"
    partial.mkdir()
    (partial / "out.txt").write_text("half")
    run_pipeline(config(tmp_path), graph, quiet=True)
    assert not partial.exists()


def test_live_lock_refuses_and_stale_lock_is_taken(tmp_path, graph):
    import socket

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    lock = run_dir / ".lock"
    lock.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    with pytest.raises(LockError, match=f"pid {os.getpid()}"):
        run_pipeline(config(tmp_path), graph, quiet=True)
    lock.write_text(json.dumps({"pid": 2**22 + 12345, "host": socket.gethostname()}))
    run_pipeline(config(tmp_path), graph, quiet=True)
    assert CALLS == ["a", "b", "c"]
    assert not lock.exists()


def mark_failed(run_dir, stage):
    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["stages"][stage]["status"] = "failed"
    manifest_path.write_text(json.dumps(manifest))


def test_a_rerun_upstream_stage_reruns_its_downstream_only_when_its_output_changed(tmp_path,
                                                                                    graph):
    run_pipeline(config(tmp_path), graph, quiet=True)
    mark_failed(tmp_path / "run", "b")
    CALLS.clear()
    run_pipeline(config(tmp_path), graph, quiet=True)
    assert CALLS == ["b"]  # b wrote the very same file: c's input is unchanged
    mark_failed(tmp_path / "run", "b")

    def run_b(ctx):
        (ctx.out / "out.txt").write_text("b, changed")

    graph[1] = dataclasses.replace(graph[1], run=run_b)
    CALLS.clear()
    outcomes = run_pipeline(config(tmp_path), graph, quiet=True)
    assert [(o.name, o.reason) for o in outcomes if o.status == "done"] == [
        ("b", "last status failed"), ("c", "upstream b changed")]


def test_an_optional_output_is_part_of_the_output_id_and_checked_for_edits(tmp_path, graph):
    """As ingest's acquisition.json (STAC runs only, read by export's report): a stage that now
    writes an optional output beside the same required ones reruns what reads it; an edit or a
    deletion of it reruns the stage."""
    side: dict[str, str] = {}

    def run_a(ctx):
        CALLS.append("a")
        (ctx.out / "out.txt").write_text("a")
        if "text" in side:
            (ctx.out / "acquisition.json").write_text(side["text"])

    graph[0] = dataclasses.replace(graph[0], run=run_a, optional_outputs=("acquisition.json",))
    run_pipeline(config(tmp_path), graph, quiet=True)  # no optional output: no error
    assert CALLS == ["a", "b", "c"]
    side["text"] = '{"items": 3}'  # an upgrade: a's code (version) now writes it too
    graph[0] = dataclasses.replace(graph[0], version=2)
    CALLS.clear()
    outcomes = run_pipeline(config(tmp_path), graph, quiet=True)
    assert [(o.name, o.reason) for o in outcomes if o.status == "done"] == [
        ("a", "version changed (1 -> 2)"), ("b", "upstream a changed")]  # c: b's output equal
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert set(manifest["stages"]["a"]["output_files"]) == {"out.txt", "acquisition.json"}
    CALLS.clear()
    run_pipeline(config(tmp_path), graph, quiet=True)
    assert CALLS == []
    (tmp_path / "run" / "a" / "acquisition.json").write_text('{"items": 4}')
    outcomes = run_pipeline(config(tmp_path), graph, quiet=True)
    assert outcomes[0].reason.startswith("outputs changed after the stage finished: "
                                         "acquisition.json")
    assert CALLS == ["a"]  # rewritten as it was: b's input is unchanged
    (tmp_path / "run" / "a" / "acquisition.json").unlink()
    outcomes = run_pipeline(config(tmp_path), graph, quiet=True)
    assert outcomes[0].reason == ("outputs changed after the stage finished: "
                                  "acquisition.json deleted")
    assert (tmp_path / "run" / "a" / "acquisition.json").read_text() == '{"items": 3}'


def keyed_like(stage):
    """The real ``stage`` (its inputs, config keys, input files, hooks) with a fake body
    writing ``out.txt``."""
    return dataclasses.replace(stage, outputs=("out.txt",), run=fake_run(stage.name))


@pytest.fixture
def real_graph():
    from pipeline.stages import PIPELINE

    CALLS.clear()
    return [keyed_like(stage) for stage in PIPELINE]


TWO_OUTCOMES = {"tiles": {"path": "tiles"}, "nightlights": {"path": "nl.tif"},
                "survey": {"path": "s.csv", "outcomes": ["y", "z"]}}


def rerun(tmp_path, real_graph, **overrides):
    """Run the real-keyed graph on a changed config; {stage: reason} of the stages that ran."""
    CALLS.clear()
    outcomes = run_pipeline(config(tmp_path, **overrides), real_graph, quiet=True)
    return {o.name: o.reason for o in outcomes if o.status == "done"}


def test_seed_reruns_only_the_stages_that_draw_random_numbers(tmp_path, real_graph):
    run_pipeline(config(tmp_path), real_graph, quiet=True)
    assert rerun(tmp_path, real_graph, seed=1) == {
        "label": "config seed changed", "train": "config seed changed",
        "extract": "upstream train changed", "baselines": "config seed changed",
        "aggregate": "upstream label, extract, baselines changed", "fit": "config seed changed",
        "predict": "upstream extract, fit changed",
        "export": "upstream label, train, aggregate, fit, predict changed"}



def test_payloads_recorded_with_the_seed_beside_the_config_still_match(tmp_path, real_graph):
    run_pipeline(config(tmp_path), real_graph, quiet=True)
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
    run_pipeline(config(tmp_path, features=frozen), real_graph, quiet=True)
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
    run_pipeline(config(tmp_path, features=frozen), real_graph, quiet=True)
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
    run_pipeline(config(tmp_path, data=TWO_OUTCOMES, regression=one), real_graph,
                 quiet=True)
    plain = {"targets": [{"column": "y", "log": True}, {"column": "z"}]}
    assert rerun(tmp_path, real_graph, data=TWO_OUTCOMES, regression=plain) == {
        "fit": "config regression.targets changed", "predict": "upstream fit changed",
        "export": "config regression.targets changed"}
    logged = {"targets": [{"column": "y", "log": True}, {"column": "z", "log": True}]}
    reasons = rerun(tmp_path, real_graph, data=TWO_OUTCOMES, regression=logged)
    assert reasons["ingest"] == "config regression.log_columns changed"
    assert CALLS == [stage.name for stage in real_graph]


def test_an_unused_population_raster_is_not_an_input(tmp_path, real_graph):
    population = tmp_path / "pop.tif"
    population.write_text("people")
    unweighted = {"population": "pop.tif"}
    run_pipeline(config(tmp_path, aggregate=unweighted), real_graph, quiet=True)
    population.write_text("more people")
    assert rerun(tmp_path, real_graph, aggregate=unweighted) == {}
    weighted = {"population": "pop.tif", "weight": "population"}
    run_pipeline(config(tmp_path, aggregate=weighted), real_graph, quiet=True)
    population.write_text("even more people")
    assert rerun(tmp_path, real_graph, aggregate=weighted) == {
        "aggregate": "input files changed", "fit": "upstream aggregate changed",
        "predict": "upstream fit changed", "export": "upstream aggregate, fit, predict changed"}


def test_renaming_the_run_reruns_only_export(tmp_path, real_graph):
    run_pipeline(config(tmp_path), real_graph, quiet=True)
    assert rerun(tmp_path, real_graph, name="renamed") == {"export": "config name changed"}


def test_min_tiles_is_not_a_key_of_predict(tmp_path, real_graph):
    """predict keys on the neighbourhood and weights it uses, not on which clusters aggregate
    keeps: it reruns only when fit's output changed (here the fake's output always does)."""
    run_pipeline(config(tmp_path), real_graph, quiet=True)
    assert rerun(tmp_path, real_graph, aggregate={"min_tiles": 3}) == {
        "aggregate": "config aggregate.min_tiles changed", "fit": "upstream aggregate changed",
        "predict": "upstream fit changed", "export": "upstream aggregate, fit, predict changed"}
    assert rerun(tmp_path, real_graph, aggregate={"min_tiles": 3, "radius_km": 2}) == {
        "aggregate": "config aggregate.radius_km changed",
        "fit": "config aggregate.radius_km changed",
        "predict": "config aggregate.radius_km changed",
        "export": "upstream aggregate, fit, predict changed"}


def reading(name, inputs, config_keys, read):
    def run(ctx):
        read(ctx)
        (ctx.out / "out.txt").write_text("x")

    return Stage(name=name, version=1, inputs=inputs, outputs=("out.txt",), config=config_keys,
                 run=run)


def test_a_stage_reading_an_undeclared_config_key_fails_naming_stage_and_key(tmp_path):
    with pytest.raises(StageError, match="stage 'x' read config key 'name' it did not declare; "
                                         "add it to the stage's config keys"):
        run_pipeline(config(tmp_path), [reading("x", (), ("export",),
                                                lambda ctx: ctx.config.name)], quiet=True)
    partly = reading("y", (), ("aggregate.radius_km",), lambda ctx: ctx.config.aggregate.min_tiles)
    with pytest.raises(StageError, match="stage 'y' read config key 'aggregate.min_tiles'"):
        run_pipeline(config(tmp_path), [partly], quiet=True)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["stages"]["y"]["status"] == "failed"


def test_declared_keys_read_as_the_config_has_them(tmp_path):
    seen = {}

    def read(ctx):
        seen.update(radius=ctx.config.aggregate.radius_km, name=ctx.config.name,
                    tiles=ctx.config.data.tiles)

    cfg = config(tmp_path, aggregate={"radius_km": 2.5})
    run_pipeline(cfg, [reading("x", (), ("aggregate.radius_km", "name", "data.tiles"), read)],
                 quiet=True)
    assert seen == {"radius": 2.5, "name": "t", "tiles": cfg.data.tiles}


def test_a_stage_reading_a_stage_it_did_not_declare_fails(tmp_path, graph):
    sneaky = reading("d", ("c",), (), lambda ctx: ctx.input("a", "out.txt"))
    with pytest.raises(StageError, match="stage 'd' read the outputs of stage 'a', which is not "
                                         r"among its inputs \(c\)"):
        run_pipeline(config(tmp_path), [*graph, sneaky], quiet=True)


def test_a_run_directory_of_the_previous_release_reruns_fit_predict_and_export_once(
        tmp_path, real_graph):
    """As the CHANGELOG says: payloads recorded before fit, predict and export declared what
    they read (and with random output ids) rerun those three, once."""
    from pipeline.engine.fingerprint import config_payload

    run_pipeline(config(tmp_path), real_graph, quiet=True)
    path = tmp_path / "run" / "manifest.json"
    manifest = json.loads(path.read_text())
    old_ids = {name: f"uuid-{name}" for name in manifest["stages"]}
    for name, entry in manifest["stages"].items():
        entry["output_id"] = old_ids[name]
        entry["payload"]["upstream"] = {up: old_ids[up] for up in entry["payload"]["upstream"]}
    stages = manifest["stages"]
    stages["fit"]["payload"]["config"] = {k: v for k, v in stages["fit"]["payload"]["config"].items()
                                          if not k.startswith("aggregate.")}
    stages["predict"]["payload"]["config"] = {
        "predict": stages["predict"]["payload"]["config"]["predict"],
        "aggregate": config_payload(config(tmp_path).aggregate)}
    stages["export"]["payload"]["config"] = {"export": stages["export"]["payload"]["config"]["export"]}
    path.write_text(json.dumps(manifest))
    assert rerun(tmp_path, real_graph) == {
        "fit": "config aggregate.box_km, aggregate.radius_km changed",
        "predict": "upstream fit changed",
        "export": "config name, regression.schemes, regression.targets changed"}
    assert rerun(tmp_path, real_graph) == {}
