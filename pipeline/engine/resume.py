"""Work that survives a killed stage and is not per-shard: ``run_dir/.resume/<stage>/<key>/``.

Per-shard work resumes through the executor's shard records (:mod:`pipeline.engine.shards`): the
runner keeps ``run_dir/.tmp-<stage>/`` for them while the stage's fingerprint is unchanged.
Other work worth keeping across a kill (``train``'s per-epoch checkpoints) is kept here, in a
folder named by a key that hashes everything the stage's output depends on: the stage's name
and ``VERSION``, the package version, the config keys the stage reads (cosmetic fields left out;
see :func:`pipeline.engine.fingerprint.stage_config`) and the identity (size, mtime) of the upstream
files it reads. Only the same computation ever resumes from a folder; a changed config or a rerun
upstream stage gives a new key.

Protocol for a stage: call :func:`open_resume_dir` at the start of ``run`` (it deletes the
folders of other keys of that stage), keep resumable work in the folder it returns, and call
:func:`close_resume_dir` once the stage's outputs are complete in ``ctx.out``. Deleting
``run_dir/.resume`` makes the next run start every stage from scratch.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from pipeline.engine.context import StageContext
from pipeline.engine.fingerprint import file_identity, fingerprint
from pipeline.engine.manifest import package_version


def resume_key(ctx: StageContext, files: Sequence[Path]) -> str:
    """Hash of what the stage's output depends on (see the module docstring)."""
    return fingerprint({
        "stage": ctx.stage.name,
        "version": ctx.stage.version,
        "package": package_version(),
        "config": ctx.config_values,
        "files": [file_identity(Path(path)) for path in files],
    })


def open_resume_dir(ctx: StageContext, files: Sequence[Path]) -> Path:
    """The running stage's resume folder for this computation, created if needed.

    Args:
        ctx: The stage's context.
        files: The upstream files (or folders) the stage reads.

    Returns:
        ``run_dir/.resume/<stage>/<key>/``; it holds what an interrupted run of the same
        computation left, or nothing.
    """
    parent = ctx.run.resume_dir(ctx.stage.name)
    folder = parent / resume_key(ctx, files)
    if parent.is_dir():
        for other in parent.iterdir():
            if other != folder:
                ctx.log.info("removing resume state %s of an older configuration", other.name)
                shutil.rmtree(other, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def close_resume_dir(folder: Path) -> None:
    """Delete a resume folder once the stage's outputs are complete (and empty parents)."""
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (folder.parent, folder.parent.parent):
        try:
            parent.rmdir()
        except OSError:
            break
