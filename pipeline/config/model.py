"""The ``model`` section: the ImageNet backbone and how ``train`` fine-tunes it on the labels."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, model_validator

from pipeline.config.base import COSMETIC, RelPath, Section, resolve_path


class ModelConfig(Section):
    """The network: backbone, weights, input size, and the two training phases."""

    backbone: str = Field("mobilenet_0.25", description=(
        "The `keras.applications` backbone: `mobilenet_0.25`, `mobilenet_0.5`, "
        "`mobilenet_1.0`, `mobilenet_v2_1.0`, `resnet50`, `vgg16`, `efficientnet_b0`, "
        "`efficientnet_b3` or `convnext_tiny`."))
    objective: Literal["classes", "radiance"] = Field("classes", description=(
        "What fine-tuning predicts per tile. `classes`: softmax over the `labels` classes, "
        "class-weighted, as Jean et al. `radiance`: regression on the tile's log(1 + "
        "radiance), standardised over the training tiles, with mean squared error."))
    weights: str = Field("imagenet", description=(
        "`imagenet`, `none` (random initialisation, drawn from `seed`) or the path of a "
        "weights file. `imagenet` looks in `weights_dir`, then the Keras cache, and downloads "
        "only when absent; where it cannot be had, the error names the file and where to put "
        "it."))
    weights_dir: RelPath | None = Field(None, json_schema_extra=COSMETIC, description=(
        "Folder searched for ImageNet weights before the Keras cache and any download "
        "(default: the environment variable `POVERTY_PIPELINE_WEIGHTS_DIR`). Changing it "
        "reruns nothing."))
    input_size_px: int = Field(64, ge=32, le=1024, description=(
        "Network input side in pixels; cached tiles are resized on the fly, except that when "
        "it is twice the tile size and the backbone is a MobileNet, the 2x bilinear "
        "upsampling is folded into the first convolution (same result, no upsampled copy; see "
        "docs/benchmarks.md)."))
    batch_size: int = Field(64, ge=1, description=(
        "Training batch size in tiles (the global batch over several GPUs)."))
    head_epochs: int = Field(3, ge=0, description=(
        "Epochs training the new head, with the backbone frozen."))
    finetune_epochs: int = Field(3, ge=0, description=(
        "Epochs with the top `unfreeze_layers` backbone layers trainable (BatchNorm stays "
        "frozen); early stopping on validation loss (patience 2; the best epoch's weights are "
        "kept)."))
    unfreeze_layers: int = Field(10, ge=0, description=(
        "How many of the backbone's top layers (those with weights) are fine-tuned."))
    learning_rate: float = Field(1e-3, gt=0, description=(
        "Adam learning rate of the head phase."))
    finetune_learning_rate: float = Field(1e-5, gt=0, description=(
        "Adam learning rate of the fine-tuning phase; a gentle rate keeps the ImageNet "
        "features (docs/experiments.md)."))
    dropout: float = Field(0.2, ge=0.0, lt=1.0, description=(
        "Dropout rate (0 to 1) before the output head."))
    validation_share: float = Field(0.2, gt=0.0, lt=0.9, description=(
        "Share of spatial blocks held out for validation."))
    validation_block_km: float = Field(5.0, gt=0, description=(
        "Side in kilometres of the spatial blocks of the validation split."))

    @model_validator(mode="after")
    def _weights_is_keyword_or_path(self, info: ValidationInfo) -> ModelConfig:
        if self.weights not in ("imagenet", "none"):
            object.__setattr__(self, "weights", str(resolve_path(Path(self.weights), info)))
        return self
