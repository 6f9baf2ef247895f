"""The run lock: owner identity, refusal while the owner lives, takeover of stale locks."""

from __future__ import annotations

import json
import logging
import os
import socket

import pytest

from pipeline.errors import LockError
from pipeline.lock import RunLock, process_start


def test_the_lock_names_its_owner_and_is_released(tmp_path):
    with RunLock(tmp_path):
        holder = json.loads((tmp_path / ".lock").read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        assert holder["started"].endswith("+00:00")
        assert holder["process_start"] == process_start(os.getpid())
        with pytest.raises(LockError, match=f"another run \\(pid {os.getpid()} on "):
            RunLock(tmp_path).__enter__()
    assert not (tmp_path / ".lock").exists()


@pytest.mark.skipif(process_start(os.getpid()) is None, reason="needs Linux /proc")
def test_a_recycled_pid_does_not_hold_the_lock(tmp_path, caplog):
    # a container's entry point is pid 1 in every run: the pid alone proves nothing
    (tmp_path / ".lock").write_text(json.dumps({
        "pid": os.getpid(), "host": socket.gethostname(), "started": "2020-01-01T00:00:00+00:00",
        "process_start": "another-boot:12345"}))
    with caplog.at_level(logging.WARNING, logger="pipeline"), RunLock(tmp_path):
        assert json.loads((tmp_path / ".lock").read_text())["process_start"] != "another-boot:12345"
    assert "taking over stale lock" in caplog.text and "2020-01-01" in caplog.text


def test_a_lock_from_another_host_is_not_taken(tmp_path):
    (tmp_path / ".lock").write_text(json.dumps({"pid": 7, "host": "node-17", "started": "x"}))
    with pytest.raises(LockError, match="held by pid 7 on host node-17.*Delete the file"):
        RunLock(tmp_path).__enter__()
