"""The stage graph: fingerprints, skipping, atomic stage outputs, manifest, lock.

The runner receives the pipeline from its caller (the CLI hands it
:data:`pipeline.stages.PIPELINE`; tests pass their own) and imports no stage. Stages run in the
order given. A stage is skipped when its fingerprint (see :mod:`pipeline.engine.fingerprint`)
equals the one recorded in ``manifest.json`` and its outputs are all present; otherwise it runs
into its temporary folder (``.tmp-<stage>``, see :class:`~pipeline.engine.rundir.RunDir`) and
that folder is renamed into place only when the stage has finished, so a crash never leaves a
half artifact that a later run would trust. The one thing kept from an unfinished attempt is its
finished shards (see :mod:`pipeline.engine.shards`): when the stage's fingerprint is unchanged,
the temporary folder is reused and only the failed or missing shards run again.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.config.schema import Config, save_config
from pipeline.engine.context import StageContext
from pipeline.engine.executor import Backend, StageShards, make_executor
from pipeline.engine.fingerprint import changed_config, fingerprint, iter_files, stage_config
from pipeline.engine.integrity import changed_outputs, output_fingerprints, output_id
from pipeline.engine.lock import RunLock
from pipeline.engine.logs import StageLog, close_run_log, open_run_log
from pipeline.engine.manifest import DONE, FAILED, RUNNING, SKIPPED, Manifest, now, package_version
from pipeline.engine.rundir import RunDir
from pipeline.engine.shards import RECORDS_DIR
from pipeline.engine.stage import Stage
from pipeline.errors import ConfigError, PipelineError, ShardError, StageError

MARKER = ".stage.json"


@dataclass(frozen=True)
class StageOutcome:
    name: str
    status: str
    seconds: float
    reason: str | None


@dataclass
class RunSession:
    """What every stage of one invocation shares.

    Attributes:
        config: the validated config.
        run: the run directory.
        log: the run's logger.
        manifest: the run directory's manifest (saved on every update).
        executor: where per-shard work runs.
        progress: progress bars (None: only on a terminal).
        output_ids: each stage considered so far -> the id of its current output's content
            (:func:`pipeline.engine.integrity.output_id`), so a downstream stage reruns when an
            input's output changed.
    """

    config: Config
    run: RunDir
    log: logging.Logger
    manifest: Manifest
    executor: Backend
    progress: bool | None = None
    output_ids: dict[str, str] = field(default_factory=dict)


def stage_index(name: str | None, default: int, stages: Sequence[Stage]) -> int:
    """Position of a stage name in the graph; ConfigError naming the choices otherwise."""
    if name is None:
        return default
    names = [stage.name for stage in stages]
    if name not in names:
        raise ConfigError(f"unknown stage {name!r}; choose one of: {', '.join(names)}")
    return names.index(name)


def payload(stage: Stage, config: Config, upstream: dict[str, str]) -> dict[str, Any]:
    """Everything the stage's output depends on (hashed into its fingerprint).

    ``upstream`` maps each finished stage to the id of its current output's content, so a
    downstream stage reruns when an input stage's output changed, and not when an input stage
    reran and wrote the same files.
    """
    return {
        "stage": stage.name,
        "version": stage.version,
        "package": package_version(),
        "config": stage_config(stage, config),
        "upstream": {name: upstream[name] for name in stage.upstream(config)},
        "files": iter_files(stage.input_files(config)),
    }


def rerun_reason(entry: dict[str, Any], new: dict[str, Any], out_dir: Path, stage: Stage) -> str | None:
    """Why a stage must run again, or None when its recorded output is still valid."""
    if entry.get("status") not in (DONE, SKIPPED):
        return "never completed" if not entry else f"last status {entry.get('status')}"
    old = entry.get("payload", {})
    missing = [name for name in stage.outputs if not (out_dir / name).exists()]
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


def _promote(tmp: Path, final: Path, old: Path) -> None:
    """Replace ``final`` by ``tmp``; the old folder (moved to ``old``) is removed only after
    the rename."""
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


def run_pipeline(
    config: Config,
    stages: Sequence[Stage],
    *,
    from_stage: str | None = None,
    until_stage: str | None = None,
    force: bool = False,
    progress: bool | None = None,
    quiet: bool = False,
) -> list[StageOutcome]:
    """Run (or skip) every stage up to ``until_stage``.

    Args:
        config: the validated config; outputs go to ``config.run_dir``.
        stages: the stage graph, in run order (:data:`pipeline.stages.PIPELINE`; tests pass
            their own).
        from_stage: rerun this stage and every later one even if unchanged.
        until_stage: stop after this stage.
        force: rerun every stage.
        progress: progress bars (None: only on a terminal).
        quiet: no console log lines (``run.log`` is still written).

    Returns:
        One outcome per stage considered, in order.

    Raises:
        LockError: another live run holds the run directory.
        StageError: a stage failed (the manifest records it as failed).
    """
    first = stage_index(from_stage, len(stages), stages)
    last = stage_index(until_stage, len(stages) - 1, stages)
    run = RunDir(config.run_dir)
    run.path.mkdir(parents=True, exist_ok=True)
    log = open_run_log(run.path, quiet=quiet)
    try:
        with RunLock(run.path, log):
            save_config(config, run.config_file)
            manifest = Manifest.load(run.path)
            session = RunSession(config, run, log, manifest, make_executor(config), progress)
            return _run_stages(session, stages[: last + 1], first, force)
    finally:
        close_run_log(log)


def _run_stages(session: RunSession, stages: Sequence[Stage], first: int,
                force: bool) -> list[StageOutcome]:
    for stale in session.run.tmp_dirs():
        if not (stale / MARKER).exists():
            session.log.info("removing partial output %s left by an interrupted run", stale.name)
            shutil.rmtree(stale, ignore_errors=True)
    config, manifest = session.config, session.manifest
    manifest.start_run(config.name, config.source and str(config.source), session.executor.kind)
    outcomes: list[StageOutcome] = []
    status = "interrupted"
    try:
        for index, stage in enumerate(stages):
            outcomes.append(_run_one(session, stage, forced=force or index >= first))
        status = "ok"
    except PipelineError:
        status = "failed"
        raise
    finally:
        manifest.finish_run(status)
        session.executor.close()
    return outcomes


def _run_one(session: RunSession, stage: Stage, forced: bool) -> StageOutcome:
    run, manifest, log = session.run, session.manifest, session.log
    new = payload(stage, session.config, session.output_ids)
    fp = fingerprint(new)
    entry = manifest.entry(stage.name)
    reason = "forced" if forced else rerun_reason(entry, new, run.stage_dir(stage.name), stage)
    extra = {"stage": stage.name, "fingerprint": fp}
    if reason is None:
        session.output_ids[stage.name] = entry.get("output_id", fp)
        shutil.rmtree(run.tmp_dir(stage.name), ignore_errors=True)
        manifest.update(stage.name, status=SKIPPED, checked=now())
        log.info("skipped: unchanged (fingerprint %s)", fp, extra={**extra, "status": SKIPPED})
        return StageOutcome(stage.name, SKIPPED, 0.0, None)
    log.info("running: %s", reason, extra={**extra, "reason": reason})
    started, t0 = now(), time.perf_counter()
    manifest.update(stage.name, status=RUNNING, started=started, fingerprint=fp, reason=reason)
    try:
        counts, shards = _execute(session, stage, fp, resume=not forced)
    except PipelineError as exc:
        manifest.update(stage.name, status=FAILED, error=str(exc), finished=now(),
                        failed_shards=getattr(exc, "shards", None))
        log.error("failed: %s", exc, extra={**extra, "status": FAILED})
        raise
    seconds = round(time.perf_counter() - t0, 3)
    out_dir = run.stage_dir(stage.name)
    outputs = {name: (out_dir / name).stat().st_size for name in stage.outputs}
    files = output_fingerprints(out_dir, (*stage.outputs, *stage.optional_outputs))
    session.output_ids[stage.name] = output_id(files)
    manifest.update(stage.name, status=DONE, fingerprint=fp, payload=new, started=started,
                    output_id=session.output_ids[stage.name], output_files=files,
                    finished=now(), seconds=seconds, counts=counts, outputs=outputs, error=None,
                    failed_shards=None, shards=shards if shards["shards"] else None)
    log.info("done in %.1f s %s", seconds, counts, extra={**extra, "status": DONE, "seconds": seconds,
                                                          "counts": counts, "shards": shards})
    return StageOutcome(stage.name, DONE, seconds, reason)


def _execute(session: RunSession, stage: Stage, fp: str,
             resume: bool) -> tuple[dict[str, Any], dict[str, int]]:
    """Run one stage into its temporary folder and rename that into place."""
    run = session.run
    tmp = run.tmp_dir(stage.name)
    adapter = StageLog(session.log, {"stage": stage.name})
    _prepare_tmp(tmp, fp, resume, adapter)
    shards = StageShards(session.executor, tmp, adapter, session.config.executor.retries,
                         session.progress, resume)
    ctx = StageContext.open(stage, session.config, run, tmp, adapter, shards, session.progress)
    try:
        counts = stage.run(ctx) or {}
    except ShardError as exc:
        raise ShardError(f"stage {stage.name}: {exc}", exc.shards) from exc
    except PipelineError:
        raise
    except Exception as exc:
        raise StageError(f"stage {stage.name} failed: {type(exc).__name__}: {exc}") from exc
    missing = [name for name in stage.outputs if not (tmp / name).exists()]
    if missing:
        raise StageError(f"stage {stage.name} did not write {', '.join(missing)}")
    shutil.rmtree(tmp / RECORDS_DIR, ignore_errors=True)
    (tmp / MARKER).unlink(missing_ok=True)
    _promote(tmp, run.stage_dir(stage.name), run.old_dir(stage.name))
    return dict(counts), shards.stats


def stage_status(run_dir: Path, stages: Sequence[Stage]) -> list[dict[str, Any]]:
    """Each stage's recorded state (for ``poverty-pipeline status``)."""
    manifest = Manifest.load(Path(run_dir))
    rows = []
    for name in [stage.name for stage in stages]:
        entry = manifest.entry(name)
        rows.append({
            "stage": name,
            "status": entry.get("status", "pending"),
            "seconds": entry.get("seconds"),
            "finished": entry.get("finished"),
            "fingerprint": entry.get("fingerprint"),
        })
    return rows

