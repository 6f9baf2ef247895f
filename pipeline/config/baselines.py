"""The ``baselines`` section: the per-tile features the image model is compared against."""

from __future__ import annotations

from pydantic import Field

from pipeline.config.base import COSMETIC, Section


class BaselinesConfig(Section):
    """Untrained ImageNet features and MOSAIKS random convolutional features for every tile."""

    imagenet: bool = Field(True, description=(
        "Compute the untrained-ImageNet baseline features: `model.backbone` with its "
        "`model.weights`, global-average-pooled, never trained (the features `features.mode: "
        "frozen` extracts; with `weights: none` the random initialisation is drawn from "
        "`seed`)."))
    random_filters: int = Field(256, ge=0, le=8192, description=(
        "MOSAIKS random filters, each giving 2 features; 0 turns the random-feature baseline "
        "off."))
    patch_px: int = Field(3, ge=1, le=15, description=(
        "Side in pixels of the random filters (patches drawn from the tiles)."))
    whiten: bool = Field(True, description=(
        "ZCA-whiten the filters and image patches (MOSAIKS); false only scales each patch "
        "dimension."))
    batch_size: int = Field(128, ge=1, json_schema_extra=COSMETIC, description=(
        "Tiles per batch. Changing it reruns nothing."))
