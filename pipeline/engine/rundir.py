"""The run directory's layout, in one place.

``runs/<name>/`` holds ``manifest.json``, ``run.log``, ``config.yaml``, the lock, one folder per
stage (``<stage>/<output>``), the temporary folder a stage writes into (``.tmp-<stage>``, renamed
into place when the stage completes) and the resume state of long stages
(``.resume/<stage>/``). Every other module asks :class:`RunDir` for these paths; only here are
stage folders and file names joined.

Library packages (``outputs``, ``demo``, ...) never see a run directory: their callers resolve
the artifacts they read here and hand them plain paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import MissingArtifactError

MANIFEST_FILE = "manifest.json"
LOG_FILE = "run.log"
CONFIG_FILE = "config.yaml"
LOCK_FILE = ".lock"
TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"
RESUME_DIR = ".resume"


@dataclass(frozen=True)
class RunDir:
    """A run directory (it need not exist yet).

    Attributes:
        path: the folder, ``runs/<name>``.
    """

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def manifest_file(self) -> Path:
        return self.path / MANIFEST_FILE

    @property
    def log_file(self) -> Path:
        return self.path / LOG_FILE

    @property
    def config_file(self) -> Path:
        """The resolved config of the latest run (``load_config`` reads it back)."""
        return self.path / CONFIG_FILE

    @property
    def lock_file(self) -> Path:
        return self.path / LOCK_FILE

    def stage_dir(self, stage: str) -> Path:
        """The folder of a stage's outputs (present once the stage has completed)."""
        return self.path / stage

    def tmp_dir(self, stage: str) -> Path:
        """The folder a running stage writes into; renamed to :meth:`stage_dir` on success."""
        return self.path / f"{TMP_PREFIX}{stage}"

    def old_dir(self, stage: str) -> Path:
        """Where the previous outputs wait while the new ones are renamed into place."""
        return self.path / f"{OLD_PREFIX}{stage}"

    def tmp_dirs(self) -> Iterator[Path]:
        """The temporary stage folders present (an interrupted run may have left them)."""
        return self.path.glob(f"{TMP_PREFIX}*")

    def resume_dir(self, stage: str) -> Path:
        """The parent of a stage's resume folders (see :mod:`pipeline.engine.resume`)."""
        return self.path / RESUME_DIR / stage

    def output(self, stage: str, name: str) -> Path:
        """Where a stage's output ``name`` lives, whether or not it is there."""
        return self.stage_dir(stage) / name

    def artifact(self, stage: str, name: str | None = None, required: bool = True) -> Path | None:
        """A completed stage's output ``name`` (or its folder when ``name`` is None).

        Args:
            stage: the stage that writes it.
            name: the file (or folder) in the stage's folder; None for the folder itself.
            required: raise when it is absent; otherwise return None.

        Raises:
            MissingArtifactError: ``required`` and absent, with the command that makes it.
        """
        path = self.stage_dir(stage) if name is None else self.output(stage, name)
        if path.exists():
            return path
        if not required:
            return None
        raise MissingArtifactError(
            f"{path} is missing: stage '{stage}' has not completed in {self.path}. "
            f"Run `poverty-pipeline run CONFIG --until {stage}` first.")

    def is_run(self) -> bool:
        """Whether a run has started here (it has a manifest)."""
        return self.manifest_file.is_file()
