"""The project's exception hierarchy.

Every error a user can cause derives from :class:`PipelineError` and carries a message that says
what is wrong, where (file, row, config key), what was found and how to fix it. The CLI maps them
to exit codes (listed in ``pipeline.cli.exit_codes`` and at the end of ``--help``).
"""

from __future__ import annotations


class PipelineError(Exception):
    """Root of every error raised on purpose by poverty-pipeline."""

    exit_code = 4


class ConfigError(PipelineError, ValueError):
    """The configuration is invalid (unknown key, wrong type, value out of range)."""

    exit_code = 2


class InputDataError(PipelineError, ValueError):
    """An input file is unusable as a whole (no usable tiles, unreadable survey, ...)."""

    exit_code = 2


class MissingArtifactError(PipelineError, FileNotFoundError):
    """A file the pipeline needs is absent (an input, weights, or an upstream artifact)."""

    exit_code = 2


class DataVerificationError(PipelineError, ValueError):
    """Input data does not match what its data manifest promises (checksum, size, licence)."""

    exit_code = 3


class StageError(PipelineError):
    """A stage failed while running."""

    exit_code = 4


class ShardError(StageError):
    """Some shards of a stage's per-tile work failed after their retries.

    Attributes:
        shards: the indexes of the failed shards, ascending.
    """

    exit_code = 4

    def __init__(self, message: str, shards: list[int]) -> None:
        super().__init__(message)
        self.shards = shards


class ShardResultError(StageError):
    """A finished shard's result file cannot be read back (cut short by a crash, or deleted)."""

    exit_code = 4


class LockError(PipelineError):
    """Another live run holds the run directory's lock."""

    exit_code = 5
