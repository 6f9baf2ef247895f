"""The stage graph: fingerprints, skipping, atomic stage outputs, manifest, lock.

Stages run in the order of :data:`pipeline.stages.STAGES`. A stage is skipped when its
fingerprint (see :mod:`pipeline.engine.fingerprint`) equals the one recorded in ``manifest.json`` and
its outputs are all present; otherwise it runs into ``run_dir/.tmp-<stage>`` and that folder is
renamed into place only when the stage has finished, so a crash never leaves a half artifact
that a later run would trust. The one thing kept from an unfinished attempt is its finished
shards (see :mod:`pipeline.engine.shards`): when the stage's fingerprint is unchanged, the temporary
folder is reused and only the failed or missing shards run again.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from pipeline.config.schema import Config, save_config
from pipeline.errors import ConfigError, PipelineError, ShardError, StageError
from pipeline.engine.executor import Backend, StageShards, make_executor
from pipeline.engine.fingerprint import (
    changed_config,
    fingerprint,
    iter_files,
    stage_config,
    stage_inputs,
)
from pipeline.engine.integrity import changed_outputs, output_fingerprints
from pipeline.engine.lock import RunLock
from pipeline.engine.logs import StageLog, close_run_log, open_run_log
from pipeline.engine.manifest import DONE, FAILED, RUNNING, SKIPPED, Manifest, now, package_version
from pipeline.engine.shards import RECORDS_DIR
from pipeline.stages import STAGES, stage_names
from pipeline.engine.context import StageContext


MARKER = ".stage.json"


@dataclass(frozen=True)
class StageOutcome:
    name: str
    status: str
    seconds: float
    reason: str | None


def stage_index(name: str | None, default: int, stages: Sequence[ModuleType] = STAGES) -> int:
    """Position of a stage name in the graph; ConfigError naming the choices otherwise."""
    if name is None:
        return default
    names = [stage.NAME for stage in stages]
    if name not in names:
        raise ConfigError(f"unknown stage {name!r}; choose one of: {', '.join(names)}")
    return names.index(name)


def payload(stage: ModuleType, config: Config, upstream: dict[str, str]) -> dict[str, Any]:
    """Everything the stage's output depends on (hashed into its fingerprint).

    ``upstream`` maps each finished stage to the id of its current output (a new id each time
    the stage actually runs), so a downstream stage reruns whenever an input stage reran.
    """
    return {
        "stage": stage.NAME,
        "version": stage.VERSION,
        "package": package_version(),
        "config": stage_config(stage, config),
        "upstream": {name: upstream[name] for name in stage_inputs(stage, config)},
        "files": iter_files(stage.input_files(config)),
    }


def rerun_reason(entry: dict[str, Any], new: dict[str, Any], out_dir: Path, stage: ModuleType) -> str | None:
    """Why a stage must run again, or None when its recorded output is still valid."""
    if entry.get("status") not in (DONE, SKIPPED):
        return "never completed" if not entry else f"last status {entry.get('status')}"
    old = entry.get("payload", {})
    missing = [name for name in stage.OUTPUTS if not (out_dir / name).exists()]
    if missing:
        return f"outputs missing: {', '.join(missing)}"
    for key in ("version", "package"):
        if old.get(key) != new[key]:
            return f"{key} changed ({old.get(key)} -> {new[key]})"
    changed = changed_config(old, new["config"])
    if changed:
        return "config " + ", ".join(changed) + " changed"
    ups = [k for k in new["upstream"] if old.get("upstream", {}).get(k) != new["upstream"][k]]
    if ups:
        return "upstream " + ", ".join(ups) + " changed"
    if old.get("files") != new["files"]:
        return "input files changed"
    edited = changed_outputs(out_dir, entry.get("output_files", {}))
    if edited:
        more = f" and {len(edited) - 5} more" if len(edited) > 5 else ""
        return "outputs changed after the stage finished: " + ", ".join(edited[:5]) + more
    return None


def _promote(tmp: Path, final: Path) -> None:
    """Replace ``final`` by ``tmp``; the old folder is removed only after the rename."""
    old = final.with_name(f".old-{final.name}")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _prepare_tmp(tmp: Path, fp: str, resume: bool, log: logging.LoggerAdapter) -> None:
    """Reuse ``tmp`` when an attempt with this fingerprint left finished shards; else start empty."""
    try:
        previous = json.loads((tmp / MARKER).read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        previous = None
    if resume and previous == fp and (tmp / RECORDS_DIR).is_dir():
        log.info("resuming the unfinished attempt in %s", tmp.name)
        return
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / MARKER).write_text(json.dumps({"fingerprint": fp}))


def _execute(stage: ModuleType, config: Config, run_dir: Path, log: logging.Logger,
             executor: Backend, progress: bool | None, fp: str,
             resume: bool) -> tuple[dict[str, Any], dict[str, int]]:
    tmp = run_dir / f".tmp-{stage.NAME}"
    adapter = StageLog(log, {"stage": stage.NAME})
    _prepare_tmp(tmp, fp, resume, adapter)
    shards = StageShards(executor, tmp, adapter, config.executor.retries, progress, resume)
    ctx = StageContext(config, run_dir, tmp, adapter, shards, progress)
    try:
        counts = stage.run(ctx) or {}
    except ShardError as exc:
        raise ShardError(f"stage {stage.NAME}: {exc}", exc.shards) from exc
    except PipelineError:
        raise
    except Exception as exc:
        raise StageError(f"stage {stage.NAME} failed: {type(exc).__name__}: {exc}") from exc
    missing = [name for name in stage.OUTPUTS if not (tmp / name).exists()]
    if missing:
        raise StageError(f"stage {stage.NAME} did not write {', '.join(missing)}")
    shutil.rmtree(tmp / RECORDS_DIR, ignore_errors=True)
    (tmp / MARKER).unlink(missing_ok=True)
    _promote(tmp, run_dir / stage.NAME)
    return dict(counts), shards.stats


def run_pipeline(
    config: Config,
    *,
    from_stage: str | None = None,
    until_stage: str | None = None,
    force: bool = False,
    progress: bool | None = None,
    quiet: bool = False,
    stages: Sequence[ModuleType] = STAGES,
) -> list[StageOutcome]:
    """Run (or skip) every stage up to ``until_stage``.

    Args:
        config: the validated config; outputs go to ``config.run_dir``.
        from_stage: rerun this stage and every later one even if unchanged.
        until_stage: stop after this stage.
        force: rerun every stage.
        progress: progress bars (None: only on a terminal).
        quiet: no console log lines (``run.log`` is still written).
        stages: the stage graph (tests pass their own).

    Returns:
        One outcome per stage considered, in order.

    Raises:
        LockError: another live run holds the run directory.
        StageError: a stage failed (the manifest records it as failed).
    """
    first = stage_index(from_stage, len(stages), stages)
    last = stage_index(until_stage, len(stages) - 1, stages)
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    log = open_run_log(run_dir, quiet=quiet)
    try:
        with RunLock(run_dir, log):
            save_config(config, run_dir / "config.yaml")
            return _run_stages(config, stages[: last + 1], run_dir, log, first, force, progress)
    finally:
        close_run_log(log)


def _run_stages(config: Config, stages: Sequence[ModuleType], run_dir: Path, log: logging.Logger,
                first: int, force: bool, progress: bool | None) -> list[StageOutcome]:
    manifest = Manifest.load(run_dir)
    for stale in run_dir.glob(".tmp-*"):
        if not (stale / MARKER).exists():
            log.info("removing partial output %s left by an interrupted run", stale.name)
            shutil.rmtree(stale, ignore_errors=True)
    output_ids: dict[str, str] = {}
    outcomes: list[StageOutcome] = []
    executor = make_executor(config)
    manifest.start_run(config.name, config.source and str(config.source), executor.kind)
    status = "interrupted"
    try:
        for index, stage in enumerate(stages):
            outcomes.append(
                _run_one(stage, config, run_dir, log, manifest, output_ids, executor,
                         force or index >= first, progress)
            )
        status = "ok"
    except PipelineError:
        status = "failed"
        raise
    finally:
        manifest.finish_run(status)
        executor.close()
    return outcomes


def _run_one(stage: ModuleType, config: Config, run_dir: Path, log: logging.Logger,
             manifest: Manifest, output_ids: dict[str, str], executor: Backend, forced: bool,
             progress: bool | None) -> StageOutcome:
    new = payload(stage, config, output_ids)
    fp = fingerprint(new)
    entry = manifest.entry(stage.NAME)
    reason = "forced" if forced else rerun_reason(entry, new, run_dir / stage.NAME, stage)
    extra = {"stage": stage.NAME, "fingerprint": fp}
    if reason is None:
        output_ids[stage.NAME] = entry.get("output_id", fp)
        shutil.rmtree(run_dir / f".tmp-{stage.NAME}", ignore_errors=True)
        manifest.update(stage.NAME, status=SKIPPED, checked=now())
        log.info("skipped: unchanged (fingerprint %s)", fp, extra={**extra, "status": SKIPPED})
        return StageOutcome(stage.NAME, SKIPPED, 0.0, None)
    log.info("running: %s", reason, extra={**extra, "reason": reason})
    started, t0 = now(), time.perf_counter()
    manifest.update(stage.NAME, status=RUNNING, started=started, fingerprint=fp, reason=reason)
    try:
        counts, shards = _execute(stage, config, run_dir, log, executor, progress, fp, not forced)
    except PipelineError as exc:
        manifest.update(stage.NAME, status=FAILED, error=str(exc), finished=now(),
                        failed_shards=getattr(exc, "shards", None))
        log.error("failed: %s", exc, extra={**extra, "status": FAILED})
        raise
    seconds = round(time.perf_counter() - t0, 3)
    outputs = {name: (run_dir / stage.NAME / name).stat().st_size for name in stage.OUTPUTS}
    output_ids[stage.NAME] = uuid.uuid4().hex
    manifest.update(stage.NAME, status=DONE, fingerprint=fp, payload=new, started=started,
                    output_id=output_ids[stage.NAME],
                    output_files=output_fingerprints(run_dir / stage.NAME, stage.OUTPUTS),
                    finished=now(), seconds=seconds, counts=counts, outputs=outputs, error=None,
                    failed_shards=None, shards=shards if shards["shards"] else None)
    log.info("done in %.1f s %s", seconds, counts, extra={**extra, "status": DONE, "seconds": seconds,
                                                          "counts": counts, "shards": shards})
    return StageOutcome(stage.NAME, DONE, seconds, reason)


def stage_status(run_dir: Path) -> list[dict[str, Any]]:
    """Each stage's recorded state (for ``poverty-pipeline status``)."""
    manifest = Manifest.load(Path(run_dir))
    rows = []
    for name in stage_names():
        entry = manifest.entry(name)
        rows.append({
            "stage": name,
            "status": entry.get("status", "pending"),
            "seconds": entry.get("seconds"),
            "finished": entry.get("finished"),
            "fingerprint": entry.get("fingerprint"),
        })
    return rows

