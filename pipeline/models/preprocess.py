"""In-graph ImageNet preprocessing, so a saved model takes raw 0-255 pixels.

:class:`ImagenetPreprocess` replaces ``keras.applications.<family>.preprocess_input`` with a
serialisable layer (no ``Lambda``), so ``keras.saving.load_model(path, safe_mode=True)`` restores
a model that accepts the same raw pixels the tiles hold.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from pipeline.errors import ConfigError
from pipeline.models.backbones import PREPROCESSING_MODES

# keras.applications.imagenet_utils: caffe mean is in BGR order, torch mean/std in RGB order.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
TORCH_STD_RGB = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="poverty_pipeline")
class ImagenetPreprocess(keras.layers.Layer):
    """Map raw pixels (float, 0-255, band-last) to what an ImageNet backbone expects.

    Modes, applied to the first 3 bands (taken as R, G, B):

    - ``"tf"``: ``x / 127.5 - 1``.
    - ``"caffe"``: reorder to B, G, R and subtract ``CAFFE_MEAN_BGR``; output is BGR.
    - ``"torch"``: ``(x / 255 - TORCH_MEAN_RGB) / TORCH_STD_RGB``.
    - ``"none"``: unchanged; the backbone normalises in-graph (EfficientNet).

    Bands after the third are scaled like ``"tf"`` (``x / 127.5 - 1``, i.e. 0..255 -> -1..1) in
    every mode but ``"none"``, where they pass unchanged to the backbone's own normalisation.

    Args:
        mode: One of ``"tf"``, ``"caffe"``, ``"torch"``, ``"none"``.
        **kwargs: Passed to :class:`keras.layers.Layer` (``name``, ``dtype``).

    Input shape: ``(batch, height, width, bands)``, ``bands >= 3``. Output: the same shape.
    """

    def __init__(self, mode: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in PREPROCESSING_MODES:
            raise ConfigError(
                f"ImagenetPreprocess: unknown mode {mode!r}; choose one of: "
                f"{', '.join(PREPROCESSING_MODES)}."
            )
        self.mode = mode

    def call(self, inputs: Any) -> Any:
        """Preprocess a batch of raw pixels; see the class docstring."""
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "none":
            return x
        rgb = self._rgb(x[..., :3])
        if x.shape[-1] == 3:
            return rgb
        return ops.concatenate([rgb, x[..., 3:] / 127.5 - 1.0], axis=-1)

    def _rgb(self, rgb: Any) -> Any:
        if self.mode == "tf":
            return rgb / 127.5 - 1.0
        if self.mode == "caffe":
            return ops.flip(rgb, axis=-1) - ops.convert_to_tensor(CAFFE_MEAN_BGR, rgb.dtype)
        mean = ops.convert_to_tensor(TORCH_MEAN_RGB, rgb.dtype)
        std = ops.convert_to_tensor(TORCH_STD_RGB, rgb.dtype)
        return (rgb / 255.0 - mean) / std

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """The output has the input's shape."""
        return input_shape

    def get_config(self) -> dict[str, Any]:
        """Config for serialisation: the base layer's plus ``mode``."""
        return {**super().get_config(), "mode": self.mode}
