"""Writing a bundle from plain paths (the caller finds them in a run directory).

The bundle is written into a temporary folder beside ``out`` and renamed into place once every
file and the checksum manifest are written, so a crash never leaves a bundle that would verify.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.bundles.card import card_markdown, model_card
from pipeline.bundles.format import (
    CARD_JSON,
    CARD_MD,
    FORMAT_VERSION,
    INFO,
    MODELS,
    NETWORK,
    SCALING,
    TRAINING_CONFIG,
    write_checksums,
)
from pipeline.errors import InputDataError


@dataclass(frozen=True)
class BundleSources:
    """The training run's files a bundle copies.

    Attributes:
        network: ``train/model.keras``.
        models: ``fit/model.json``.
        scaling: ``ingest/scaling.json``.
        training_config: the run's ``config.yaml``.
        metrics: ``fit/metrics.json`` (for the model card).
    """

    network: Path
    models: Path
    scaling: Path
    training_config: Path
    metrics: Path


def pack_bundle(sources: BundleSources, facts: dict[str, Any], out: Path,
                package_version: str) -> Path:
    """Write the bundle folder ``out`` and return it.

    Args:
        sources: the files copied in.
        facts: ``bundle.json``'s content: ``training``, ``tiles``, ``features``, ``targets``,
            ``versions`` (see :mod:`pipeline.bundles.format`).
        out: the bundle folder; must not exist yet (a bundle is never overwritten in place).
        package_version: recorded in ``checksums.json``.

    Raises:
        InputDataError: ``out`` exists.
    """
    out = Path(out)
    if out.exists():
        raise InputDataError(f"{out}: already exists; a bundle is never overwritten. Choose a new "
                             "folder (e.g. with the date) or remove the old one first.")
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for source, name in ((sources.network, NETWORK), (sources.models, MODELS),
                         (sources.scaling, SCALING), (sources.training_config, TRAINING_CONFIG)):
        shutil.copyfile(source, tmp / name)
    info = {"format_version": FORMAT_VERSION, **facts}
    (tmp / INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    card = model_card(info, json.loads(Path(sources.metrics).read_text(encoding="utf-8")))
    (tmp / CARD_JSON).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    (tmp / CARD_MD).write_text(card_markdown(card), encoding="utf-8")
    write_checksums(tmp, package_version)
    tmp.rename(out)
    return out
