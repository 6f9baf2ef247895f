"""What a stage receives: the config keys it declared, its upstream artifacts, where to write.

``ctx.config`` is a :class:`ConfigView`: it answers only the config keys the stage declared
(``Stage.config``, or ``Stage.config_for(config)``) and raises :class:`StageError` naming the
stage and the key on any other, so a stage's fingerprint covers everything the stage reads. No
key is allowed without being declared: the run directory and the executor reach a stage through
the context (``ctx.run``, ``ctx.executor``), not through the config. Likewise ``ctx.input``
answers only for the stage's upstream stages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from tqdm.auto import tqdm

from pipeline.config.schema import Config
from pipeline.engine.fingerprint import stage_config
from pipeline.engine.rundir import RunDir
from pipeline.engine.stage import Stage
from pipeline.errors import StageError

T = TypeVar("T")


class Executor(Protocol):
    """Runs a function over shards, with retries and resume (``pipeline.engine.executor.StageShards``)."""

    def map(self, fn: Any, items: list[Any], desc: str = "") -> list[Any]: ...


class ConfigView:
    """A read-only view of a config (or of one of its sections) that allows only declared keys.

    Reading a declared key gives the config's own value (a section, a number, ...); reading a
    section of which only some keys are declared gives a view of that section.

    Args:
        node: the config or section viewed.
        stage: the stage's name (for the error).
        declared: the dotted keys the stage declared.
        prefix: the dotted path of ``node`` plus ``.`` (empty for the whole config).
    """

    def __init__(self, node: Any, stage: str, declared: Iterable[str], prefix: str = "") -> None:
        self._node, self._stage, self._prefix = node, stage, prefix
        self._declared = frozenset(declared)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):  # private names, copy and pickle hooks: not config keys
            raise AttributeError(attr)
        key = self._prefix + attr
        if key in self._declared:
            return getattr(self._node, attr)
        if any(d.startswith(key + ".") for d in self._declared):
            return ConfigView(getattr(self._node, attr), self._stage, self._declared, key + ".")
        raise StageError(f"stage '{self._stage}' read config key '{key}' it did not declare; "
                         "add it to the stage's config keys (Stage(config=...)).")

    def __repr__(self) -> str:
        keys = sorted(d.removeprefix(self._prefix) for d in self._declared
                      if d.startswith(self._prefix))
        where = self._prefix.rstrip(".") or "config"
        return f"ConfigView({where} of stage {self._stage!r}: {', '.join(keys)})"


@dataclass
class StageContext:
    """Everything a stage's ``run`` may touch.

    Attributes:
        stage: the stage running.
        config: the config keys the stage declared (a :class:`ConfigView`).
        run: the run directory; upstream artifacts come through :meth:`input`.
        out: the temporary folder this stage writes into; renamed into place on success.
        log: logger writing JSON lines to ``run.log`` and short lines to the console.
        executor: runs per-shard work locally or on Dask.
        progress: show progress bars (None: only when attached to a terminal).
        upstream: the stages whose outputs :meth:`input` gives.
        config_values: the declared config values as the fingerprint hashes them (cosmetic
            fields left out; see :func:`pipeline.engine.fingerprint.stage_config`).
    """

    stage: Stage
    config: Any
    run: RunDir
    out: Path
    log: logging.Logger | logging.LoggerAdapter
    executor: Executor
    progress: bool | None = None
    upstream: tuple[str, ...] = ()
    config_values: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, stage: Stage, config: Config, run: RunDir, out: Path,
             log: logging.Logger | logging.LoggerAdapter, executor: Executor,
             progress: bool | None = None) -> StageContext:
        """The context of ``stage`` under ``config``: its declared keys and upstream stages."""
        view = ConfigView(config, stage.name, stage.config_keys(config))
        return cls(stage, view, run, out, log, executor, progress, stage.upstream(config),
                   stage_config(stage, config))

    def input(self, stage: str, name: str | None = None) -> Path:
        """An upstream stage's folder (or a file in it); MissingArtifactError when absent."""
        return cast(Path, self.artifact(stage, name))

    def artifact(self, stage: str, name: str | None = None, required: bool = True) -> Path | None:
        """An upstream stage's folder (or a file in it), as :meth:`RunDir.artifact` finds it;
        StageError for a stage that is not among this stage's inputs."""
        self._check_upstream(stage)
        return self.run.artifact(stage, name, required=required)

    def _check_upstream(self, stage: str) -> None:
        if stage not in self.upstream:
            raise StageError(
                f"stage '{self.stage.name}' read the outputs of stage '{stage}', which is not "
                f"among its inputs ({', '.join(self.upstream) or 'none'}); add it to the "
                "stage's inputs (Stage(inputs=...)).")

    def bar(self, items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
        """Wrap ``items`` in a progress bar (shown only where ``progress`` allows)."""
        disable = None if self.progress is None else not self.progress
        return iter(tqdm(items, total=total, desc=desc, disable=disable, leave=False))
