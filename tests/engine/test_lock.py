"""The run lock: owner identity, refusal while the owner lives, takeover of stale locks."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading

import pytest

from pipeline.engine import lock as lock_module
from pipeline.errors import LockError
from pipeline.engine.lock import RunLock, process_start


def test_the_lock_names_its_owner_and_is_released(tmp_path):
    with RunLock(tmp_path):
        holder = json.loads((tmp_path / ".lock").read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        assert holder["started"].endswith("+00:00")
        assert holder["process_start"] == process_start(os.getpid())
        with pytest.raises(LockError, match=f"another run \\(pid {os.getpid()} on "):
            RunLock(tmp_path).__enter__()
    assert not (tmp_path / ".lock").exists()


@pytest.mark.skipif(process_start(os.getpid()) is None, reason="no process start time here")
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


def test_the_lock_file_appears_with_its_owner_in_it(tmp_path, monkeypatch):
    # another run may read the lock at any moment: it must never find it empty or half written
    seen = []

    class Watched:
        def __getattr__(self, name):
            real = getattr(os, name)
            if not callable(real):
                return real

            def call(*args, **kwargs):
                out = real(*args, **kwargs)
                if (tmp_path / ".lock").exists():
                    seen.append((tmp_path / ".lock").read_text())
                return out
            return call

    monkeypatch.setattr(lock_module, "os", Watched())
    with RunLock(tmp_path):
        monkeypatch.undo()
        assert seen and {json.loads(text)["pid"] for text in seen} == {os.getpid()}


def test_two_runs_that_find_one_stale_lock_do_not_both_take_it(tmp_path):
    (tmp_path / ".lock").write_text(json.dumps({"pid": 999_999_999, "host": socket.gethostname()}))
    first, errors = RunLock(tmp_path), []

    def take_first():
        try:
            first.__enter__()
        except LockError as exc:
            errors.append(str(exc))

    class Interleave(logging.Logger):
        def warning(self, *args, **kwargs):  # the second run found the lock stale ...
            thread = threading.Thread(target=take_first)  # ... and the first run checks it now
            thread.start()
            thread.join(timeout=0.5)
            self.thread = thread

    log = Interleave("second")
    with RunLock(tmp_path, log) as second:
        log.thread.join()
        assert len(errors) == 1 and "another run (pid" in errors[0]
        assert (tmp_path / ".lock").read_text() == second.record
    assert not (tmp_path / ".lock").exists()


def test_a_run_releases_the_lock_only_while_it_names_that_run(tmp_path, caplog):
    other = json.dumps({"pid": 7, "host": "node-17", "started": "x"})
    with caplog.at_level(logging.WARNING, logger="pipeline"), RunLock(tmp_path):
        (tmp_path / ".lock").write_text(other)
    assert (tmp_path / ".lock").read_text() == other
    assert f"{tmp_path / '.lock'} no longer names this run; left in place" in caplog.text


def test_a_lock_that_is_not_an_object_is_unreadable_and_taken_over(tmp_path, caplog):
    (tmp_path / ".lock").write_text("[]")
    with caplog.at_level(logging.WARNING, logger="pipeline"), RunLock(tmp_path):
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    assert f"taking over stale lock {tmp_path / '.lock'} (unreadable)" in caplog.text


def test_a_takeover_waits_for_the_guard_and_gives_up_with_a_message(tmp_path, monkeypatch):
    import filelock

    (tmp_path / ".lock").write_text(json.dumps({"pid": 999_999_999, "host": socket.gethostname()}))
    monkeypatch.setattr(lock_module, "GUARD_TIMEOUT_S", 0.2)
    with filelock.FileLock(tmp_path / ".lock.guard"):  # another run is taking over right now
        with pytest.raises(LockError, match=r"\.lock\.guard for more than 0 s .*Run again"):
            RunLock(tmp_path).__enter__()
    with RunLock(tmp_path) as run:
        assert (tmp_path / ".lock").read_text() == run.record


def test_process_start_off_linux_is_the_create_time(monkeypatch):
    import psutil

    monkeypatch.setattr(lock_module.sys, "platform", "darwin")
    assert process_start(os.getpid()) == repr(psutil.Process(os.getpid()).create_time())
    assert process_start(999_999_999) is None
    assert not lock_module._alive(999_999_999) and not lock_module._alive(0)
    assert lock_module._alive(os.getpid(), process_start(os.getpid()))
    assert not lock_module._alive(os.getpid(), "1.5")
