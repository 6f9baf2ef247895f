"""The runner with per-shard work: a failed shard fails its stage by name; a rerun redoes only it."""

from __future__ import annotations

import json
from functools import partial

import pytest

from pipeline.errors import ShardError
from pipeline.engine.runner import run_pipeline
from pipeline.engine.stage import Stage
from test_runner import config

RAN: list[int] = []
BROKEN: set[int] = set()


def work(item: int, scale: int) -> dict:
    RAN.append(item)
    if item in BROKEN:
        raise OSError(f"tile {item}: read error")
    return {"value": item * scale}


def sharded_stage():
    def run(ctx):
        results = ctx.executor.map(partial(work, scale=10), list(range(5)), desc="tiles")
        (ctx.out / "out.json").write_text(json.dumps([r["value"] for r in results]))
        return {"tiles": len(results)}

    return Stage(name="tiles", version=1, inputs=(), outputs=("out.json",),
                 config=("data.tiles",), run=run)


@pytest.fixture
def graph():
    RAN.clear()
    BROKEN.clear()
    return [sharded_stage()]


def test_failed_shard_then_resume(tmp_path, graph):
    BROKEN.add(3)
    cfg = config(tmp_path, executor={"kind": "local", "retries": 1})
    with pytest.raises(ShardError, match=r"stage tiles: 1 of 5 shard\(s\) failed after 2 attempt\(s\): "
                                         r"shard\(s\) 3\. Shard 3: OSError: tile 3: read error"):
        run_pipeline(cfg, graph, quiet=True)
    run_dir = tmp_path / "run"
    assert RAN == [0, 1, 2, 3, 3, 4]
    entry = json.loads((run_dir / "manifest.json").read_text())["stages"]["tiles"]
    assert entry["status"] == "failed" and entry["failed_shards"] == [3]
    log = [json.loads(line) for line in (run_dir / "run.log").read_text().splitlines()]
    shard_lines = [e for e in log if e.get("shard") is not None]
    assert [(e["shard"], e["shard_status"]) for e in shard_lines] == [
        (0, "done"), (1, "done"), (2, "done"), (3, "failed"), (4, "done")]
    assert all(e["stage"] == "tiles" and e["seconds"] >= 0 for e in shard_lines)
    assert shard_lines[0]["counts"] == {} and shard_lines[0]["attempts"] == 1
    assert not (run_dir / "tiles").exists()

    BROKEN.clear()
    RAN.clear()
    outcomes = run_pipeline(cfg, graph, quiet=True)
    assert RAN == [3] and outcomes[0].status == "done"
    assert json.loads((run_dir / "tiles" / "out.json").read_text()) == [0, 10, 20, 30, 40]
    assert sorted(p.name for p in (run_dir / "tiles").iterdir()) == ["out.json"]
    assert not list(run_dir.glob(".tmp-*"))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stages"]["tiles"]["shards"] == {"shards": 5, "reused": 4, "ran": 1, "retried": 0}
    assert manifest["run"]["status"] == "ok" and manifest["run"]["executor"] == "local"


def test_a_forced_or_changed_stage_starts_its_shards_afresh(tmp_path, graph):
    BROKEN.add(0)
    with pytest.raises(ShardError):
        run_pipeline(config(tmp_path), graph, quiet=True)
    BROKEN.clear()
    RAN.clear()
    run_pipeline(config(tmp_path), graph, quiet=True, force=True)
    assert RAN == [0, 1, 2, 3, 4]
    BROKEN.add(4)
    with pytest.raises(ShardError):
        run_pipeline(config(tmp_path), graph, quiet=True, force=True)
    BROKEN.clear()
    RAN.clear()
    run_pipeline(config(tmp_path, data={"tiles": {"path": "other"}, "nightlights": {"path": "n"},
                                        "survey": {"path": "s", "outcomes": ["y"]}}),
                 stages=graph, quiet=True)
    assert RAN == [0, 1, 2, 3, 4]


def test_a_failed_forced_run_says_how_to_keep_its_finished_shards(tmp_path, graph):
    BROKEN.add(3)
    cfg = config(tmp_path, executor={"kind": "local", "retries": 0})
    with pytest.raises(ShardError, match=r"Fix the cause and rerun without --force or --from: "
                                         r"the 4 finished shard\(s\) are kept and only the "
                                         r"failed or missing ones run again \(the same command "
                                         r"starts the stage afresh\)\.$"):
        run_pipeline(cfg, graph, quiet=True, force=True)
    BROKEN.clear()
    RAN.clear()
    run_pipeline(cfg, graph, quiet=True)
    assert RAN == [3]
