"""Stage fingerprints: what a stage's output depends on, hashed.

A fingerprint covers the stage's name and hand-bumped ``VERSION``, the package version, the
config keys the stage reads (cosmetic fields left out; ``seed`` only for stages that draw random
numbers), the fingerprints of its upstream stages and the identity (path, size, mtime) of the
input files it reads. Cheap checks first: files are identified by ``stat``, not hashed.

A stage declares its keys and upstream stages in its :class:`~pipeline.engine.stage.Stage`
(``config``, ``inputs``; ``config_for`` / ``inputs_for`` where they depend on the config), and its
context refuses any key it did not declare, so these are exactly what it reads.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pipeline.engine.stage import Stage


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


def stage_config(stage: Stage, config: Any) -> dict[str, Any]:
    """The config values ``stage``'s output depends on, by dotted key (cosmetic fields left out,
    also where the stage declares one by name, as ``model.weights_dir``)."""
    return {key: config_payload(config.section(key)) for key in stage.config_keys(config)
            if not is_cosmetic(config, key)}


def is_cosmetic(config: Any, dotted: str) -> bool:
    """Whether the config field at ``dotted`` is marked cosmetic (how, not what, a stage makes)."""
    parent, _, leaf = dotted.rpartition(".")
    section = config.section(parent) if parent else config
    field = type(section).model_fields.get(leaf) if isinstance(section, BaseModel) else None
    extra = field.json_schema_extra if field is not None else None
    return isinstance(extra, dict) and bool(extra.get("cosmetic"))


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return config_payload(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def file_identity(path: Path | str) -> list[Any]:
    """Identity of a file or folder: for a folder, every file below it (sorted); a URL (kept
    as a string by the config) is identified by itself."""
    if isinstance(path, str):
        return [path, "url"]
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


_MISSING = object()


def changed_config(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Dotted paths of the config leaves in ``new`` that differ from the recorded payload ``old``.

    A key of ``new`` is looked up in ``old`` as is or inside a recorded enclosing section
    (``model.backbone`` inside ``model``), and ``seed`` also where older payloads kept it, beside
    the config; keys only ``old`` has are ones the stage no longer reads. So narrowing what a
    stage keys on reruns nothing.
    """
    recorded = old.get("config", {})
    if "seed" in old:
        recorded = {"seed": old["seed"], **recorded}
    return changed_keys({key: _recorded(recorded, key) for key in new}, new)


def _recorded(config: Mapping[str, Any], key: str) -> Any:
    if key in config:
        return config[key]
    parent, _, leaf = key.rpartition(".")
    section = _recorded(config, parent) if parent else _MISSING
    return section.get(leaf, _MISSING) if isinstance(section, Mapping) else _MISSING


def iter_files(paths: Iterable[Path]) -> list[list[Any]]:
    return [file_identity(p) for p in paths]
