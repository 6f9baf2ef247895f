"""Execution of per-shard work: in-process, or on a dask.distributed cluster.

Shard functions write their results into the run directory themselves and return small
summaries, which are gathered in shard order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tqdm.auto import tqdm

from pipeline.config import Config, DaskExecutor


class LocalExecutor:
    """Runs shards one after another in this process."""

    def __init__(self, progress: bool | None = None) -> None:
        self.progress = progress

    def map(self, fn: Callable[[Any], Any], items: list[Any], desc: str = "") -> list[Any]:
        disable = None if self.progress is None else not self.progress
        return [fn(item) for item in tqdm(items, desc=desc, disable=disable, leave=False)]

    def close(self) -> None:
        """Nothing to release."""


class DaskShardExecutor:
    """Sends one task per shard to a dask.distributed cluster (a LocalCluster when no address)."""

    def __init__(self, settings: DaskExecutor) -> None:
        from dask.distributed import Client, LocalCluster

        self._cluster = None
        if settings.address is None:
            self._cluster = LocalCluster(
                n_workers=settings.workers,
                threads_per_worker=settings.threads_per_worker,
                processes=True,
                dashboard_address=None,
            )
            self.client = Client(self._cluster)
        else:
            self.client = Client(settings.address)

    def map(self, fn: Callable[[Any], Any], items: list[Any], desc: str = "") -> list[Any]:
        futures = self.client.map(fn, items, pure=False)
        return self.client.gather(futures)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(config: Config, progress: bool | None = None) -> LocalExecutor | DaskShardExecutor:
    """The executor the config asks for."""
    if isinstance(config.executor, DaskExecutor):
        return DaskShardExecutor(config.executor)
    return LocalExecutor(progress)
