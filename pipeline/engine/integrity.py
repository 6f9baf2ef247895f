"""Fingerprints of a finished stage's output files, to notice edits made after it finished.

When a stage finishes, the runner records, for every file below each of its ``OUTPUTS``, the
file's size, modification time and a BLAKE2b digest of its content (of the first and last MiB
for files over 64 MiB). On a later run, a file whose size differs, that is gone, or whose
content digest differs is reported, and the stage runs again. An unchanged size and mtime is
trusted without reading the file, so the check costs one ``stat`` per file on the usual path,
and a run directory copied without keeping mtimes is re-hashed, not re-run.

The digests also name the output's content (:func:`output_id`): downstream stages key on it, so
they rerun when an upstream stage's output changed, not merely because the stage ran again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FULL_HASH_LIMIT = 64 << 20  # bytes; larger files hash their head and tail
EDGE = 1 << 20


def file_digest(path: Path) -> str:
    """BLAKE2b (128 bit) of the content, or of the first and last MiB of a file over 64 MiB."""
    h = hashlib.blake2b(digest_size=16)
    size = path.stat().st_size
    with path.open("rb") as f:
        if size <= FULL_HASH_LIMIT:
            for chunk in iter(lambda: f.read(EDGE), b""):
                h.update(chunk)
        else:
            h.update(f.read(EDGE))
            f.seek(size - EDGE)
            h.update(f.read(EDGE))
    return h.hexdigest()


def _files(out_dir: Path, names: Iterable[str]) -> list[Path]:
    files: list[Path] = []
    for name in names:
        path = out_dir / name
        files += [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return files


def output_fingerprints(out_dir: Path, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{relative path: {size, mtime_ns, digest}}`` for every file of the named outputs."""
    out = {}
    for path in _files(out_dir, names):
        stat = path.stat()
        out[path.relative_to(out_dir).as_posix()] = {
            "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "digest": file_digest(path)}
    return out


def output_id(files: dict[str, dict[str, Any]]) -> str:
    """An id of a stage's output content, from :func:`output_fingerprints`' record.

    Equal content gives an equal id, so a stage that reran and wrote the same files does not
    rerun the stages downstream of it. A file over ``FULL_HASH_LIMIT`` (digested by its head
    and tail only) also contributes its mtime: its id changes with every rewrite.
    """
    parts = {rel: [f["size"], f["digest"], *([f["mtime_ns"]] if f["size"] > FULL_HASH_LIMIT
                                              else [])]
             for rel, f in sorted(files.items())}
    blob = json.dumps(parts, sort_keys=True).encode()
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def changed_outputs(out_dir: Path, recorded: dict[str, dict[str, Any]]) -> list[str]:
    """The recorded files that are gone, resized or whose content changed, with how."""
    changed = []
    for rel, was in recorded.items():
        path = out_dir / rel
        if not path.is_file():
            changed.append(f"{rel} deleted")
            continue
        stat = path.stat()
        if stat.st_size != was["size"]:
            changed.append(f"{rel} resized ({was['size']} -> {stat.st_size} bytes)")
        elif stat.st_mtime_ns != was["mtime_ns"] and file_digest(path) != was["digest"]:
            changed.append(f"{rel} edited")
    return changed
