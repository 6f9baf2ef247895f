"""Stage fingerprints: what a stage's output depends on, hashed.

A fingerprint covers the stage's name and hand-bumped ``VERSION``, the package version, the
config sections the stage reads (cosmetic fields left out), the fingerprints of its upstream
stages and the identity (path, size, mtime) of the input files it reads. Cheap checks first:
files are identified by ``stat``, not hashed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel


def config_payload(section: Any) -> Any:
    """A JSON-able view of a config section (or value) without its cosmetic fields."""
    if not isinstance(section, BaseModel):
        return _jsonable(section)
    out: dict[str, Any] = {}
    for name, field in type(section).model_fields.items():
        extra = field.json_schema_extra
        if field.exclude or (isinstance(extra, dict) and extra.get("cosmetic")):
            continue
        value = getattr(section, name)
        out[name] = _jsonable(value)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return config_payload(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def file_identity(path: Path) -> list[Any]:
    """Identity of a file or folder: for a folder, every file below it (sorted)."""
    if path.is_dir():
        return [
            [str(p.relative_to(path)), *_stat(p)]
            for p in sorted(path.rglob("*"))
            if p.is_file()
        ]
    return [str(path), *_stat(path)] if path.exists() else [str(path), "missing"]


def _stat(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def fingerprint(parts: Mapping[str, Any]) -> str:
    """sha256 (hex, 16 chars) of a canonical JSON encoding of ``parts``."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the leaves that differ between two payloads (for 'why rerun' logs)."""
    keys: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        path = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            keys.extend(changed_keys(a, b, prefix=path + "."))
        elif a != b:
            keys.append(path)
    return keys


def iter_files(paths: Iterable[Path]) -> list[list[Any]]:
    return [file_identity(p) for p in paths]
