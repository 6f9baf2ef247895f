"""Run logging: one JSON object per line in ``run.log``, short human lines on the console."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.engine.rundir import RunDir

LOGGER = "pipeline"
_FIELDS = ("stage", "shard", "shard_status", "attempts", "worker", "error", "counts", "shards",
           "seconds", "reason", "fingerprint", "status")


class JsonLines(logging.Formatter):
    """Formats a record as one JSON object: time, level, message and known extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        entry.update({k: getattr(record, k) for k in _FIELDS if hasattr(record, k)})
        return json.dumps(entry, default=str)


class Console(logging.Formatter):
    """``[stage] message``; stage failures are left to the CLI, which prints them once."""

    def format(self, record: logging.LogRecord) -> str:
        stage = getattr(record, "stage", None)
        prefix = f"[{stage}] " if stage else ""
        return f"{prefix}{record.getMessage()}"


class StageLog(logging.LoggerAdapter):
    """A logger for one stage: adds ``stage`` to every record, keeping the caller's extra fields."""

    def process(self, msg: str, kwargs: MutableMapping[str, Any]) -> tuple[str, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


def for_console(record: logging.LogRecord) -> bool:
    """Console lines leave out stage failures (the CLI prints them) and routine per-shard lines
    (``run.log`` has one per shard; the console shows a shard only when it was retried or failed).
    """
    if getattr(record, "status", None) == "failed":
        return False
    return not (hasattr(record, "shard") and record.levelno < logging.WARNING)


def open_run_log(run_dir: Path, quiet: bool = False) -> logging.Logger:
    """The ``pipeline`` logger, writing to ``run_dir/run.log`` (appended) and to stderr."""
    logger = logging.getLogger(LOGGER)
    close_run_log(logger)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    file_handler = logging.FileHandler(RunDir(run_dir).log_file, encoding="utf-8")
    file_handler.setFormatter(JsonLines())
    logger.addHandler(file_handler)
    if not quiet:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(Console())
        console.addFilter(for_console)
        logger.addHandler(console)
    return logger


def close_run_log(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        handler.close()
        logger.removeHandler(handler)
