"""Execution of per-shard work: in-process, or on a dask.distributed cluster.

Two layers:

* a *backend* (:class:`LocalExecutor`, :class:`DaskShardExecutor`) runs :class:`ShardTask`\\ s and
  yields their records (see :mod:`pipeline.engine.shards`) as they finish;
* :class:`StageShards`, what a stage sees as ``ctx.executor``: ``map(fn, items, desc)`` runs
  ``fn`` over the shards with retries, skips the shards a previous attempt already finished
  (running again any whose result cannot be read back), logs one JSON line per shard, fails
  with a message naming the failed shards, and returns the results in shard order, read back
  from disk.

Both backends give the same results: the same shard function runs on the same items, and its
results are read back by shard index.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from pipeline.config.schema import Config, DaskExecutor
from pipeline.config.schema import LocalExecutor as LocalSettings
from pipeline.errors import ConfigError, ShardError, ShardResultError
from pipeline.engine.shards import (
    DONE,
    FAILED,
    RECORDS_DIR,
    ShardTask,
    decode,
    describe_error,
    finished_record,
    record_path,
    run_shard,
    write_record,
)


CONNECT_TIMEOUT = "30s"


class LocalExecutor:
    """Runs shards one after another in this process."""

    kind = "local"

    def run(self, tasks: list[ShardTask]) -> Iterator[dict[str, Any]]:
        """Each task's record, in task order."""
        for task in tasks:
            yield run_shard(task)

    def close(self) -> None:
        """Nothing to release."""


class DaskShardExecutor:
    """Sends one task per shard to a dask.distributed cluster (a LocalCluster when no address).

    Workers write shard results to the run directory themselves, so with a remote scheduler the
    run directory must be on a filesystem that every worker mounts at the same path. The cluster
    is started (or the scheduler reached) on the first shard, so a run whose per-tile stages are
    all skipped starts nothing.
    """

    kind = "dask"

    def __init__(self, settings: DaskExecutor) -> None:
        self.settings = settings
        self._client: Any = None
        self._cluster: Any = None

    @property
    def client(self) -> Any:
        """The ``dask.distributed.Client``, connected on first use."""
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        from dask.distributed import Client, LocalCluster

        settings = self.settings
        try:
            if settings.address is None:
                self._cluster = LocalCluster(
                    n_workers=settings.workers, threads_per_worker=settings.threads_per_worker,
                    processes=True, dashboard_address=None, env=worker_env(settings),
                )
                return Client(self._cluster)
            return Client(settings.address, timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise ConfigError(
                f"executor.address: cannot reach the Dask scheduler at {settings.address} ({exc}). "
                "Start it (`dask scheduler`), fix the address, or use --executor local."
            ) from exc

    def run(self, tasks: list[ShardTask]) -> Iterator[dict[str, Any]]:
        """Each task's record, as the tasks finish (a failed record where a worker was lost)."""
        from dask.distributed import as_completed

        if not tasks:
            return
        t0 = time.perf_counter()
        futures = self.client.map(run_shard, tasks, pure=False)
        by_key = {future.key: task for future, task in zip(futures, tasks)}
        for future in as_completed(futures):
            task = by_key[future.key]
            exc = future.exception()
            if exc is None:
                yield future.result()
            else:  # the worker died or the task could not be sent
                yield write_record(task, FAILED, task.retries + 1, t0, [describe_error(exc)], None)
            future.release()

    def close(self) -> None:
        """Disconnect, and stop the LocalCluster if this executor started one."""
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None


def worker_env(settings: DaskExecutor) -> dict[str, str]:
    """Environment of LocalCluster workers: each math library uses the worker's own threads.

    Without it every worker's TensorFlow and BLAS would start one thread per core of the
    machine, and N workers would oversubscribe the cores N times.
    """
    threads = str(settings.threads_per_worker)
    return {"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": "1",
            "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


Backend = LocalExecutor | DaskShardExecutor


def make_executor(config: Config) -> Backend:
    """The backend the config asks for."""
    if isinstance(config.executor, DaskExecutor):
        return DaskShardExecutor(config.executor)
    return LocalExecutor()


def override_executor(config: Config, kind: str | None = None, address: str | None = None,
                      workers: int | None = None) -> Config:
    """The config with its executor replaced from the command line (``--executor`` & co.).

    Settings not given are kept from the config's executor (its ``retries`` always are).

    Raises:
        ConfigError: ``address``/``workers`` given for the local executor, or workers < 1.
    """
    settings = config.executor
    kind = kind or (settings.kind if address is not None or workers is not None else None)
    if kind is None:
        return config
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1; got {workers}.")
    if kind == "local":
        if address is not None or workers is not None:
            raise ConfigError("--dask-address and --workers apply to the dask executor; "
                              "add --executor dask (or set executor.kind: dask in the config).")
        return config.model_copy(update={"executor": LocalSettings(retries=settings.retries)})
    if not isinstance(settings, DaskExecutor):
        settings = DaskExecutor(kind="dask", retries=settings.retries)
    updates = {k: v for k, v in (("address", address), ("workers", workers)) if v is not None}
    return config.model_copy(update={"executor": settings.model_copy(update=updates)})


class StageShards:
    """One stage's view of the executor (``ctx.executor``).

    Args:
        backend: where shards run.
        out: the stage's temporary output folder; records go to ``out/_shards/<map>/``.
        log: the stage's logger (JSON lines in ``run.log``).
        retries: further attempts of a failed shard before it is recorded as failed.
        progress: progress bars (None: only on a terminal).
        resume: whether rerunning the same command keeps the finished shards (False for a
            stage run with ``--force`` or ``--from``, which starts afresh each time).
    """

    def __init__(self, backend: Backend, out: Path, log: logging.Logger | logging.LoggerAdapter,
                 retries: int = 0, progress: bool | None = None, resume: bool = True) -> None:
        self.backend, self.out, self.log = backend, out, log
        self.retries, self.progress, self.resume = retries, progress, resume
        self.stats = {"shards": 0, "reused": 0, "ran": 0, "retried": 0}
        self._maps = 0

    def map(self, fn: Callable[[Any], Any], items: list[Any], desc: str = "") -> list[Any]:
        """``[fn(item) for item in items]``, run shard by shard on the backend.

        Raises:
            ShardError: some shards failed after their retries (the others are kept for the
                next attempt).
        """
        folder = self.out / RECORDS_DIR / f"{self._maps:02d}-{_slug(desc)}"
        self._maps += 1
        folder.mkdir(parents=True, exist_ok=True)
        results = self._reuse(folder, len(items))
        if results:
            self.log.info("resuming %s: %d of %d shard(s) already done", desc or "shards",
                          len(results), len(items))
        tasks = [ShardTask(fn, item, i, folder, self.retries, len(items))
                 for i, item in enumerate(items) if i not in results]
        done, failed = {}, []
        disable = None if self.progress is None else not self.progress
        for record in tqdm(self.backend.run(tasks), total=len(tasks), desc=desc, disable=disable,
                           leave=False):
            self._log_shard(record, len(items))
            if record["status"] == DONE:
                done[record["shard"]] = record
            else:
                failed.append(record)
        self.stats["shards"] += len(items)
        self.stats["reused"] += len(items) - len(tasks)
        self.stats["ran"] += len(tasks)
        if failed:
            raise ShardError(self._failure(failed, folder, len(items)),
                             sorted(r["shard"] for r in failed))
        results.update((i, decode(record["result"], folder)) for i, record in done.items())
        return [results[i] for i in range(len(items))]

    def _reuse(self, folder: Path, total: int) -> dict[int, Any]:
        """The results of the shards a previous attempt finished, by shard index. A record whose
        result cannot be read back (cut short by a crash) is discarded, so its shard runs again."""
        results = {}
        for index, record in _finished_records(folder, total).items():
            try:
                results[index] = decode(record["result"], folder)
            except ShardResultError as exc:
                self.log.warning("%s; discarding the record of shard %d and running it again",
                                 exc, index)
                record_path(folder, index).unlink(missing_ok=True)
        return results

    def _log_shard(self, record: dict[str, Any], total: int) -> None:
        extra = {"shard": record["shard"], "seconds": record["seconds"],
                 "attempts": record["attempts"], "shard_status": record["status"],
                 "worker": f"{record['host']}:{record['pid']}", "counts": record.get("counts")}
        where = f"shard {record['shard']}/{total}"
        if record["status"] == FAILED:
            self.log.error("%s failed after %d attempt(s): %s", where, record["attempts"],
                           record["errors"][-1], extra={**extra, "error": record["errors"][-1]})
        elif record["attempts"] > 1:
            self.stats["retried"] += 1
            self.log.warning("%s done on attempt %d after: %s", where, record["attempts"],
                             "; ".join(record["errors"]), extra=extra)
        else:
            self.log.info("%s done in %.2f s", where, record["seconds"], extra=extra)

    def _failure(self, failed: list[dict[str, Any]], folder: Path, total: int) -> str:
        first = min(failed, key=lambda r: r["shard"])
        names = ", ".join(str(r["shard"]) for r in sorted(failed, key=lambda r: r["shard"])[:5])
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        how = "the same command" if self.resume else "without --force or --from"
        afresh = "" if self.resume else " (the same command starts the stage afresh)"
        return (
            f"{len(failed)} of {total} shard(s) failed after {first['attempts']} attempt(s): "
            f"shard(s) {names}{more}. Shard {first['shard']}: {first['errors'][-1]} "
            f"(record: {record_path(folder, first['shard'])}). Fix the cause and rerun {how}: "
            f"the {total - len(failed)} finished shard(s) are kept and only the failed or "
            f"missing ones run again{afresh}."
        )


def _finished_records(folder: Path, total: int) -> dict[int, dict[str, Any]]:
    found = {index: finished_record(folder, index, total) for index in range(total)}
    return {index: record for index, record in found.items() if record is not None}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "map"
