"""What a stage receives: the config, where to read upstream artifacts, where to write."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from tqdm.auto import tqdm

from pipeline.config.schema import Config
from pipeline.errors import MissingArtifactError

T = TypeVar("T")


class Executor(Protocol):
    """Runs a function over shards, with retries and resume (``pipeline.engine.executor.StageShards``)."""

    def map(self, fn: Any, items: list[Any], desc: str = "") -> list[Any]: ...


@dataclass
class StageContext:
    """Everything a stage's ``run`` may touch.

    Attributes:
        config: the validated run config.
        run_dir: the run directory; upstream artifacts live in ``run_dir/<stage>``.
        out: the temporary folder this stage writes into; renamed into place on success.
        log: logger writing JSON lines to ``run.log`` and short lines to the console.
        executor: runs per-shard work locally or on Dask.
        progress: show progress bars (None: only when attached to a terminal).
    """

    config: Config
    run_dir: Path
    out: Path
    log: logging.Logger | logging.LoggerAdapter
    executor: Executor
    progress: bool | None = None
    counts: dict[str, Any] = field(default_factory=dict)

    def input(self, stage: str, name: str | None = None) -> Path:
        """Path of an upstream stage's folder (or a file in it); it must exist."""
        path = self.run_dir / stage if name is None else self.run_dir / stage / name
        if not path.exists():
            raise MissingArtifactError(
                f"{path} is missing: stage '{stage}' has not completed in {self.run_dir}. "
                f"Run `poverty-pipeline run CONFIG --until {stage}` first."
            )
        return path

    def bar(self, items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
        """Wrap ``items`` in a progress bar (shown only where ``progress`` allows)."""
        disable = None if self.progress is None else not self.progress
        return iter(tqdm(items, total=total, desc=desc, disable=disable, leave=False))
