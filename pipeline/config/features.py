"""The ``features`` section: which network ``extract`` takes each tile's features from."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pipeline.config.base import COSMETIC, Section


class FeaturesConfig(Section):
    """Feature extraction: fine-tuned or frozen network, and its batch size."""

    mode: Literal["finetuned", "frozen"] = Field("finetuned", description=(
        "`finetuned`: features of the model `train` fine-tuned. `frozen`: features of the "
        "ImageNet backbone (`model.backbone`, `model.weights`, `model.input_size_px`) without "
        "fine-tuning, for comparing transfer with no transfer as Jean et al. did; `extract` "
        "then reads no `train` output."))
    batch_size: int = Field(256, ge=1, json_schema_extra=COSMETIC, description=(
        "Extraction batch size in tiles; memory of `extract` is bounded by it. Changing it "
        "reruns nothing."))
