"""The stage contract: one frozen value per stage, declared at the end of its module.

A stage names what its output depends on (its upstream stages, the config keys it reads, the
files outside the run directory it reads) and what it writes; the runner hashes those into the
stage's fingerprint (:mod:`pipeline.engine.fingerprint`) and hands ``run`` a context whose config
refuses any key the stage did not declare (:class:`pipeline.engine.context.ConfigView`), so a
fingerprint cannot miss a setting the stage reads.

A stage whose needs depend on the config (``extract`` reads ``train`` only for fine-tuned
features) gives ``inputs_for`` / ``config_for``; the declared ``inputs`` / ``config`` are then what
it may read under any config, and the hooks pick the part it reads under this one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.config.schema import Config
    from pipeline.engine.context import StageContext


def no_files(config: Config) -> list[Path]:
    """``input_files`` of a stage that reads nothing outside the run directory."""
    return []


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline.

    Attributes:
        name: the stage's name, also its folder in the run directory.
        version: hand-bumped when the stage's code changes what it writes (reruns it).
        inputs: the upstream stages whose outputs it may read (earlier stages).
        outputs: the files (or folders) it must write into its folder.
        optional_outputs: the files it writes under some configs only (ingest's
            ``acquisition.json`` for a STAC source). When present they count as outputs: their
            content is part of the stage's output id (downstream stages rerun when it changes)
            and an edit or deletion reruns the stage; their absence is no error.
        config: the dotted config keys it reads (``aggregate``, ``model.backbone``, ``seed``).
        run: does the work: ``run(ctx) -> counts`` (a JSON-able mapping for the manifest).
        input_files: the files outside the run directory it reads under a config.
        inputs_for: the part of ``inputs`` it reads under a config (default: all of them).
        config_for: the part of ``config`` it reads under a config (default: all of it).
    """

    name: str
    version: int
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    config: tuple[str, ...]
    run: Callable[[StageContext], Mapping[str, Any] | None]
    input_files: Callable[[Config], list[Path]] = no_files
    optional_outputs: tuple[str, ...] = ()
    inputs_for: Callable[[Config], tuple[str, ...]] | None = None
    config_for: Callable[[Config], tuple[str, ...]] | None = None

    def upstream(self, config: Config) -> tuple[str, ...]:
        """The upstream stages this stage reads under ``config``."""
        return self.inputs if self.inputs_for is None else self.inputs_for(config)

    def config_keys(self, config: Config) -> tuple[str, ...]:
        """The config keys this stage reads under ``config``."""
        return self.config if self.config_for is None else self.config_for(config)

