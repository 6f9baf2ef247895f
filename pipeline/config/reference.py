"""The config's field descriptions as documents: the reference page, the JSON Schema, comments.

The descriptions are written once, as ``Field(description=...)`` on the section models; this module
reads them back for ``docs/configuration.md`` (:func:`markdown`, regenerated with ``make docs``; a
test fails when the committed page is stale), for editors (:func:`json_schema`, printed by
``poverty-pipeline config schema``) and for the comments of the config ``poverty-pipeline init``
writes (:func:`commented_yaml`).
"""

from __future__ import annotations

import json
import re
import textwrap
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from pipeline.config.schema import Config

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
COMMENT_WIDTH = 96


@dataclass(frozen=True)
class Entry:
    """One key of the reference: a field of one section model."""

    key: str
    kind: str
    default: str
    description: str


@dataclass(frozen=True)
class Part:
    """One section of the reference: its dotted key, its model and the model's fields."""

    key: str
    model: type[BaseModel]
    entries: tuple[Entry, ...]


def parts(model: type[BaseModel] = Config, key: str = "") -> Iterator[Part]:
    """Every section model under ``model`` (itself first), depth first, in field order.

    The keys are dotted paths (``data.tiles``); the items of a list of sections add ``[]``
    (``regression.targets[]``), and each member of the executor union adds its kind
    (``executor (kind: dask)``).
    """
    entries = tuple(_entry(key, name, field) for name, field in _fields(model))
    yield Part(key, model, entries)
    for name, field in _fields(model):
        for sub_key, sub_model in _sections(_join(key, name), field.annotation):
            yield from parts(sub_model, sub_key)


def description(key: str) -> str:
    """The description of the field at dotted ``key`` (``"data.tiles.path"``).

    The fields of a list's items follow the list's key (``"regression.targets.log"``); those of
    the executor are looked up in the local executor first, then the Dask one.
    """
    *sections, name = key.split(".")
    models: list[type[BaseModel]] = [Config]
    for part in sections:
        models = [sub for model in models if part in model.model_fields
                  for _, sub in _sections(part, model.model_fields[part].annotation)]
    for model in models:
        if name in model.model_fields:
            return model.model_fields[name].description or ""
    raise KeyError(f"{key}: not a config key")


def summary(key: str) -> str:
    """The first sentence of :func:`description`: what a one-line comment says."""
    text = description(key)
    match = re.search(r"(?<!e\.g\.)(?<!i\.e\.)(?<=[.!?])\s+(?=[A-Z`])", text)
    return text[: match.start()] if match else text


def markdown() -> str:
    """``docs/configuration.md``: one table per section, every key with type, default, meaning."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from the config models (pipeline/config/) by `make docs`; do not edit. -->",
        "",
        "A config is a YAML file, loaded with `yaml.safe_load` and validated by the pydantic "
        "models in `pipeline/config/`, where every key below is described. Unknown keys are "
        "errors that name the key path (with a \"did you mean\"); every path is relative to the "
        "config file. `configs/demo.yaml` is a complete, commented example, and `poverty-pipeline "
        "init` writes one from your files (see [data.md](data.md)).",
        "",
        "Keys marked *cosmetic* change how a stage runs, not what it produces: they are left out "
        "of the stage fingerprints, so changing one reruns nothing. For editors, `poverty-pipeline "
        "config schema` prints the JSON Schema of this page; save it, e.g. as "
        "`poverty-pipeline.schema.json`, and start a config with "
        "`# yaml-language-server: $schema=poverty-pipeline.schema.json` to have keys completed "
        "and checked as you type.",
        "",
        "Sections: " + ", ".join(f"[{_title(p.key)}](#{_slug(_title(p.key))})"
                                 for p in parts() if p.key) + ".",
    ]
    for part in parts():
        lines += ["", f"## {_title(part.key)}", "", _clean(part.model.__doc__), "",
                  "| key | type | default | meaning |", "|---|---|---|---|"]
        lines += [f"| `{e.key}` | {e.kind} | {e.default} | {e.description} |"
                  for e in part.entries]
    return "\n".join(lines) + "\n"


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a config file, descriptions included."""
    schema = Config.model_json_schema(mode="validation")
    schema["title"] = "poverty-pipeline config"
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def json_schema_text() -> str:
    """:func:`json_schema` as indented JSON text."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def commented_yaml(tree: Mapping[str, Any], notes: Mapping[str, str] | None = None) -> str:
    """YAML of ``tree`` with each key's :func:`summary` as a comment above it.

    Args:
        tree: config values, nested as in the file; lists of mappings are written one item
            per line in flow style.
        notes: text appended as a trailing comment, by dotted key (``"data.tiles.path"``), or
            by list item (``"regression.targets[0]"``): what was found in the data.
    """
    return "\n".join(_yaml_lines(tree, "", 0, notes or {})) + "\n"


def write_markdown(path: Path) -> bool:
    """Write :func:`markdown` to ``path``; True when the file changed."""
    text = markdown()
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def _fields(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    return [(name, f) for name, f in model.model_fields.items() if not f.exclude]


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _title(key: str) -> str:
    return key or "Top level"


def _slug(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def _clean(doc: str | None) -> str:
    return " ".join(textwrap.dedent(doc or "").split())


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The section models an annotation holds (through ``| None``, ``Annotated`` and unions)."""
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if _is_union(annotation):
        return [m for arg in get_args(annotation) for m in _models(arg)]
    return []


def _sections(key: str, annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    annotation = _strip(annotation)
    if get_origin(annotation) is tuple and not _models(annotation):
        inner = _models(get_args(annotation)[0])
        return [(f"{key}[]", m) for m in inner]
    models = _models(annotation)
    if len(models) > 1:
        return [(f"{key} (kind: {m.model_fields['kind'].annotation.__args__[0]})", m)
                for m in models]
    return [(key, m) for m in models]


def _entry(key: str, name: str, field: FieldInfo) -> Entry:
    description = (field.description or "").replace("|", "\\|")
    if (field.json_schema_extra or {}).get("cosmetic"):  # type: ignore[union-attr]
        description += " *Cosmetic.*"
    subs = _sections(_join(key, name), field.annotation)
    if subs:
        links = ", ".join(f"[{sub}](#{_slug(sub)})" for sub, _ in subs)
        plural = "list of sections" if get_origin(_strip(field.annotation)) is tuple else "section"
        optional = " or null" if field.default is None else ""
        kind = f"{plural}: {links}{optional}"
    else:
        kind = _kind(field.annotation, field.metadata)
    return Entry(name, kind, _default(field), description)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "see below"
    if isinstance(value, str):
        return f"`{value}`"
    return f"`{json.dumps(value)}`"


def _strip(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _kind(annotation: Any, metadata: list[Any]) -> str:
    """The type of a field in words, with its allowed values or range."""
    if get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        metadata = [*metadata, *extra]
    if _is_union(annotation):
        args = [a for a in get_args(annotation) if a is not type(None)]
        text = " or ".join(_kind(a, metadata) for a in args)
        return text + (" or null" if len(args) < len(get_args(annotation)) else "")
    if get_origin(annotation) is Literal:
        values = [f"`{v}`" for v in get_args(annotation)]
        return values[0] if len(values) == 1 else "one of " + ", ".join(values)
    if get_origin(annotation) is tuple:
        return _kind_tuple(get_args(annotation), metadata)
    if get_origin(annotation) is dict:
        return "mapping of text to text"
    words = {bool: "true or false", int: "integer", float: "number", str: "text",
             Path: "path"}.get(annotation, getattr(annotation, "__name__", str(annotation)))
    return words + _range(metadata)


def _kind_tuple(args: tuple[Any, ...], metadata: list[Any]) -> str:
    sizes = [m for m in metadata if isinstance(m, (at.MinLen, at.MaxLen))]
    count = ""
    low = next((m.min_length for m in sizes if isinstance(m, at.MinLen)), None)
    high = next((m.max_length for m in sizes if isinstance(m, at.MaxLen)), None)
    if low is not None and high is not None:
        count = f" ({low} to {high})"
    elif low:
        count = f" (at least {low})"
    if len(args) == 2 and args[1] is not Ellipsis:
        return f"[{_kind(args[0], [])}, {_kind(args[1], [])}]"
    return f"list{count} of {_kind(args[0], [])}"


def _range(metadata: list[Any]) -> str:
    """``ge``/``gt``/``le``/``lt`` and ``pattern`` constraints in words: ``" (16 to 1024)"``."""
    ge = next((m.ge for m in metadata if isinstance(m, at.Ge)), None)
    le = next((m.le for m in metadata if isinstance(m, at.Le)), None)
    low = f"≥ {ge}" if ge is not None else next(
        (f"> {m.gt}" for m in metadata if isinstance(m, at.Gt)), None)
    high = f"≤ {le}" if le is not None else next(
        (f"< {m.lt}" for m in metadata if isinstance(m, at.Lt)), None)
    if ge is not None and le is not None:
        bounds = f"{ge} to {le}"
    else:
        bounds = ", ".join(b for b in (low, high) if b)
    pattern = next((getattr(m, "pattern", None) for m in metadata
                    if getattr(m, "pattern", None)), None)
    text = f" ({bounds})" if bounds else ""
    return text + (f" matching `{pattern}`" if pattern else "")


def _yaml_lines(tree: Mapping[str, Any], key: str, depth: int,
                notes: Mapping[str, str]) -> list[str]:
    pad = "  " * depth
    lines: list[str] = []
    for name, value in tree.items():
        dotted = _join(key, name)
        if depth == 0 and lines:
            lines.append("")
        lines += [f"{pad}# {line}" for line in textwrap.wrap(
            summary(dotted), COMMENT_WIDTH - len(pad) - 2, break_on_hyphens=False)]
        if isinstance(value, Mapping):
            lines.append(f"{pad}{name}:")
            lines += _yaml_lines(value, dotted, depth + 1, notes)
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            lines.append(f"{pad}{name}:")
            lines += [_with_note(f"{pad}  - {json.dumps(item)}", notes.get(f"{dotted}[{i}]"))
                      for i, item in enumerate(value)]
        else:
            lines.append(_with_note(f"{pad}{name}: {json.dumps(value)}", notes.get(dotted)))
    return lines


def _with_note(line: str, note: str | None) -> str:
    return f"{line}   # {note}" if note else line
