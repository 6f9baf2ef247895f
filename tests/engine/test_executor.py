"""Per-shard execution: results read back by index, retries, failure records, resume, Dask."""

from __future__ import annotations

import json
import logging
import os
from contextlib import nullcontext
from functools import partial

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from pipeline.config.schema import DaskExecutor
from pipeline.errors import ShardError, ShardResultError
from pipeline.engine.executor import DaskShardExecutor, LocalExecutor, StageShards
from pipeline.engine.shards import decode, encode

CALLS: list[int] = []


def square(item: int) -> dict:
    CALLS.append(item)
    return {"n": item * item}


def fail_on(item: int, bad: frozenset, failures: dict) -> np.ndarray:
    """Fails for items in ``bad`` until ``failures[item]`` attempts have failed."""
    CALLS.append(item)
    if item in bad and failures.get(item, 0) > 0:
        failures[item] -= 1
        raise ValueError(f"tile {item} is unreadable")
    return np.full(3, item, dtype=np.float32)


def shards(tmp_path, backend=None, retries=0) -> StageShards:
    CALLS.clear()
    return StageShards(backend or LocalExecutor(), tmp_path, logging.getLogger("test"), retries,
                       progress=False)


def test_results_round_trip_every_supported_type(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    geo = pd.DataFrame({"id": ["t1"], "geometry": [box(0, 0, 1, 1)]})
    value = (frame, geo, np.arange(6, dtype=np.int16).reshape(2, 3), {"k": [1, 2.5, None]}, None)
    back = decode(encode(value, tmp_path, "s"), tmp_path)
    pd.testing.assert_frame_equal(back[0], frame)
    assert isinstance(back[1], gpd.GeoDataFrame) and back[1].geometry.iloc[0].equals(box(0, 0, 1, 1))
    assert back[2].dtype == np.int16 and back[2].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert back[3] == {"k": [1, 2.5, None]} and back[4] is None
    with pytest.raises(TypeError, match="shard results must be"):
        encode(object(), tmp_path, "bad")


def test_array_results_come_back_memory_mapped_and_a_cut_one_is_refused(tmp_path):
    spec = encode(np.arange(600, dtype=np.float32).reshape(100, 6), tmp_path, "s")
    back = decode(spec, tmp_path)
    assert isinstance(back, np.memmap) and not back.flags.writeable and back[99, 5] == 599
    path = tmp_path / "s.npy"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ShardResultError, match="s.npy: cannot read this shard result"):
        decode(spec, tmp_path)


def test_map_returns_results_in_shard_order(tmp_path):
    runner = shards(tmp_path)
    assert runner.map(square, [3, 1, 2], desc="squares") == [{"n": 9}, {"n": 1}, {"n": 4}]
    record = json.loads((tmp_path / "_shards" / "00-squares" / "shard_00000.json").read_text())
    assert record["status"] == "done" and record["attempts"] == 1 and record["of"] == 3
    assert record["counts"] == {}
    assert runner.stats == {"shards": 3, "reused": 0, "ran": 3, "retried": 0}


def test_a_flaky_shard_is_retried(tmp_path, caplog):
    runner = shards(tmp_path, retries=2)
    fn = partial(fail_on, bad=frozenset({1}), failures={1: 2})
    with caplog.at_level(logging.WARNING, logger="test"):
        out = runner.map(fn, [0, 1, 2], desc="flaky")
    assert [o.tolist() for o in out] == [[0, 0, 0], [1, 1, 1], [2, 2, 2]]
    record = json.loads((tmp_path / "_shards" / "00-flaky" / "shard_00001.json").read_text())
    assert record["counts"] == {"rows": 3} and record["attempts"] == 3
    assert CALLS == [0, 1, 1, 1, 2]
    assert runner.stats["retried"] == 1
    assert "shard 1/3 done on attempt 3" in caplog.text and "tile 1 is unreadable" in caplog.text


def test_a_failed_shard_names_itself_and_a_rerun_redoes_only_it(tmp_path):
    failures = {2: 99}
    fn = partial(fail_on, bad=frozenset({2}), failures=failures)
    with pytest.raises(ShardError, match=r"1 of 4 shard\(s\) failed after 2 attempt\(s\): "
                                         r"shard\(s\) 2\. Shard 2: ValueError: tile 2 is unreadable"
                       ) as info:
        shards(tmp_path, retries=1).map(fn, [0, 1, 2, 3], desc="x")
    assert info.value.shards == [2]
    record = json.loads((tmp_path / "_shards" / "00-x" / "shard_00002.json").read_text())
    assert record["status"] == "failed" and len(record["errors"]) == 2
    assert "test_executor.py" in record["errors"][0]
    failures[2] = 0  # the cause is fixed
    runner = shards(tmp_path, retries=1)
    out = runner.map(fn, [0, 1, 2, 3], desc="x")
    assert CALLS == [2]
    assert [o[0] for o in out] == [0, 1, 2, 3]
    assert runner.stats == {"shards": 4, "reused": 3, "ran": 1, "retried": 0}


def test_an_unreadable_finished_result_is_run_again(tmp_path, caplog):
    fn = partial(fail_on, bad=frozenset({2}), failures={2: 1})
    with pytest.raises(ShardError):
        shards(tmp_path).map(fn, [0, 1, 2, 3], desc="x")
    result = tmp_path / "_shards" / "00-x" / "shard_00001.npy"
    result.write_bytes(b"")  # a power loss: the record reached the disk, the result did not
    runner = shards(tmp_path)
    with caplog.at_level(logging.WARNING, logger="test"):
        out = runner.map(fn, [0, 1, 2, 3], desc="x")
    assert CALLS == [1, 2]
    assert [o[0] for o in out] == [0, 1, 2, 3]
    assert runner.stats == {"shards": 4, "reused": 2, "ran": 2, "retried": 0}
    assert (f"{result}: cannot read this shard result (EOFError: No data left in file); "
            "discarding the record of shard 1 and running it again") in caplog.text


def test_a_result_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    def disk_full(file, value, allow_pickle=True):
        with open(file, "wb") if isinstance(file, os.PathLike) else nullcontext(file) as fh:
            fh.write(b"\x93NUMPY\x01\x00")  # the first bytes, then the disk is full
        raise OSError(28, "No space left on device")

    synced = []
    monkeypatch.setattr(os, "fsync", synced.append)
    fn = partial(fail_on, bad=frozenset(), failures={})
    assert [o.tolist() for o in shards(tmp_path).map(fn, [7], desc="x")] == [[7, 7, 7]]
    assert len(synced) == 2  # the result, then its record, each flushed to disk before its rename
    monkeypatch.setattr(np, "save", disk_full)
    with pytest.raises(ShardError, match=r"Shard 0: OSError: \[Errno 28\] No space left on device"):
        shards(tmp_path).map(fn, [1], desc="y")
    assert os.listdir(tmp_path / "_shards" / "00-y") == ["shard_00000.json"]


def test_records_of_another_shard_count_are_not_reused(tmp_path):
    shards(tmp_path).map(square, [1, 2, 3], desc="x")
    out = shards(tmp_path).map(square, [5, 6], desc="x")
    assert CALLS == [5, 6] and out == [{"n": 25}, {"n": 36}]


@pytest.fixture(scope="module")
def dask_backend():
    backend = DaskShardExecutor(DaskExecutor(kind="dask", workers=2))
    yield backend
    backend.close()


@pytest.mark.slow
def test_dask_gives_the_local_results_and_records_failures(tmp_path, dask_backend):
    items = [4, 0, 7, 1, 9]
    local = shards(tmp_path / "local").map(partial(np.arange, dtype=np.int64), items, desc="a")
    remote = shards(tmp_path / "dask", dask_backend).map(partial(np.arange, dtype=np.int64), items,
                                                         desc="a")
    assert [r.tolist() for r in remote] == [r.tolist() for r in local]
    pids = {json.loads(p.read_text())["pid"] for p in (tmp_path / "dask").rglob("shard_*.json")}
    assert pids and os.getpid() not in pids  # the shards ran in the worker processes
    with pytest.raises(ShardError, match=r"shard\(s\) 2\. Shard 2: ValueError: invalid literal"):
        shards(tmp_path / "bad", dask_backend, retries=1).map(int, ["1", "2", "x"], desc="b")
    record = json.loads((tmp_path / "bad" / "_shards" / "00-b" / "shard_00002.json").read_text())
    assert record["status"] == "failed" and record["attempts"] == 2


@pytest.mark.slow
def test_an_unreachable_scheduler_is_a_config_error(tmp_path, monkeypatch):
    from pipeline.engine import executor
    from pipeline.errors import ConfigError

    monkeypatch.setattr(executor, "CONNECT_TIMEOUT", "1s")
    backend = DaskShardExecutor(DaskExecutor(kind="dask", address="tcp://127.0.0.1:1"))
    with pytest.raises(ConfigError, match="executor.address: cannot reach the Dask scheduler at "
                                          "tcp://127.0.0.1:1"):
        shards(tmp_path, backend).map(square, [1], desc="x")
    backend.close()


def test_progress_bars_only_on_a_terminal(tmp_path, capsys):
    StageShards(LocalExecutor(), tmp_path / "a", logging.getLogger("test")).map(
        square, [1, 2], desc="quiet bar")
    assert "quiet bar" not in capsys.readouterr().err  # stderr is not a terminal here
    StageShards(LocalExecutor(), tmp_path / "b", logging.getLogger("test"), progress=True).map(
        square, [1, 2], desc="shown bar")
    assert "shown bar" in capsys.readouterr().err
