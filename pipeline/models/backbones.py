"""Registry of ``keras.applications`` backbones usable as the feature extractor.

Each :class:`BackboneSpec` says how to build the convolutional trunk (``include_top=False``,
``pooling=None``), which ImageNet preprocessing it expects, its input size limits, and the exact
file name and URL that ``keras.applications`` itself uses for its no-top ImageNet weights, so a
file already in the Keras cache (``$KERAS_HOME/models``) or placed in the pipeline's weights
directory is found under the name Keras would give it.

Preprocessing modes (applied in-graph by :class:`pipeline.models.preprocess.ImagenetPreprocess`):

- ``"tf"``: ``x / 127.5 - 1`` (MobileNet, MobileNetV2).
- ``"caffe"``: RGB -> BGR, then subtract the ImageNet BGR mean, no scaling (VGG16, ResNet50).
- ``"torch"``: ``x / 255``, then subtract the ImageNet mean and divide by its std (ConvNeXt, built
  with ``include_preprocessing=False`` so that the same normalisation also holds for >3 bands).
- ``"none"``: the backbone rescales in-graph itself (EfficientNet: ``Rescaling`` + ``Normalization``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

import numpy as np

from pipeline.errors import ConfigError

if TYPE_CHECKING:  # TensorFlow takes seconds to load: imported where used
    import keras

PREPROCESSING_MODES = ("tf", "caffe", "torch", "none")

_KERAS_GCS = "https://storage.googleapis.com/tensorflow/keras-applications/"
_EFFICIENTNET_URL = "https://storage.googleapis.com/keras-applications/"
# keras.applications.efficientnet.IMAGENET_STDDEV_RGB
_EFFICIENTNET_STDDEV_RGB = (0.229, 0.224, 0.225)


class BackboneFactory(Protocol):
    """Builds a no-top backbone: ``(input_shape, weights, name) -> keras.Model``."""

    def __call__(
        self,
        input_shape: tuple[int, int, int],
        weights: str | Path | None,
        name: str | None = None,
    ) -> keras.Model: ...


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one ImageNet backbone and where its weights come from.

    Attributes:
        name: Registry key, the value of config key ``model.backbone``.
        factory: Builds the backbone with ``include_top=False, pooling=None``. ``weights`` is
            ``None``, ``"imagenet"`` (Keras downloads) or the path of a weights file.
        preprocessing: One of :data:`PREPROCESSING_MODES`.
        default_input_px: Input side length (pixels) the ImageNet weights were trained at.
        min_input_px: Smallest input side length (pixels) the architecture accepts.
        filename_for: Maps the input side length (pixels) to the no-top weights file name.
        base_url: URL folder that Keras downloads the weights file from.
        folds_upsampling: The stem is a 3x3 stride-2 convolution on the input, which can absorb a
            2x upsampling of the tiles (:mod:`pipeline.models.upsampled_stem`).
    """

    name: str
    factory: BackboneFactory
    preprocessing: str
    default_input_px: int
    min_input_px: int
    filename_for: Callable[[int], str]
    base_url: str
    folds_upsampling: bool = False

    def fed_px(self, input_px: int, tile_px: int) -> int:
        """Side of the images the classifier takes for ``tile_px`` tiles at ``input_px``: the
        tiles themselves when the upsampling folds into the stem, else ``input_px``."""
        return tile_px if self.folds_upsampling and 2 * tile_px == input_px else input_px

    def weights_filename(self, input_px: int) -> str:
        """File name keras.applications gives the no-top ImageNet weights at ``input_px``."""
        return self.filename_for(input_px)

    def weights_url(self, input_px: int) -> str:
        """URL keras.applications downloads the no-top ImageNet weights from."""
        return self.base_url + self.filename_for(input_px)


def _weights_arg(weights: str | Path | None) -> str | None:
    return None if weights is None else str(weights)


def _name_kwargs(name: str | None) -> dict[str, str]:
    return {} if name is None else {"name": name}


def _mobilenet(alpha: float) -> BackboneFactory:
    def factory(
        input_shape: tuple[int, int, int], weights: str | Path | None, name: str | None = None
    ) -> keras.Model:
        import keras

        return keras.applications.MobileNet(
            input_shape=input_shape, alpha=alpha, include_top=False,
            weights=_weights_arg(weights), pooling=None, **_name_kwargs(name),
        )

    return factory


def _plain(constructor: str, **extra: object) -> BackboneFactory:
    """A factory calling ``keras.applications.<constructor>`` (Keras imported when it builds)."""

    def factory(
        input_shape: tuple[int, int, int], weights: str | Path | None, name: str | None = None
    ) -> keras.Model:
        import keras

        return getattr(keras.applications, constructor)(
            input_shape=input_shape, include_top=False, weights=_weights_arg(weights),
            pooling=None, **extra, **_name_kwargs(name),
        )

    return factory


def _efficientnet(constructor: str) -> BackboneFactory:
    plain = _plain(constructor)

    def factory(
        input_shape: tuple[int, int, int], weights: str | Path | None, name: str | None = None
    ) -> keras.Model:
        model = plain(input_shape, weights, name)
        if weights is not None and str(weights) != "imagenet":
            _match_imagenet_stem(model)
        return model

    return factory


def _match_imagenet_stem(model: keras.Model) -> None:
    """Make an EfficientNet loaded from a file normalise like ``weights="imagenet"`` does.

    With ``weights="imagenet"`` Keras inserts ``Rescaling(1 / sqrt(IMAGENET_STDDEV_RGB))`` after
    the stem ``Normalization``; with a weights *path* it does not. Folding that factor into the
    normalisation variance (``var * std``) gives the identical function without a new layer.
    """
    import keras

    norm = next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))
    variance = next(var for var in norm.weights if var.name == "variance")
    value = np.asarray(keras.ops.convert_to_numpy(variance))
    if value.shape[-1] == len(_EFFICIENTNET_STDDEV_RGB):
        variance.assign(value * np.asarray(_EFFICIENTNET_STDDEV_RGB, dtype=value.dtype))
        norm.finalize_state()  # the layer caches mean/variance tensors from its variables


def _mobilenet_filename(alpha_text: str) -> Callable[[int], str]:
    def filename(input_px: int) -> str:
        rows = input_px if input_px in (128, 160, 192, 224) else 224
        return f"mobilenet_{alpha_text}_{rows}_tf_no_top.h5"

    return filename


def _mobilenet_v2_filename(input_px: int) -> str:
    rows = input_px if input_px in (96, 128, 160, 192, 224) else 224
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"


def _fixed(filename: str) -> Callable[[int], str]:
    def constant(input_px: int) -> str:  # noqa: ARG001 - one file for every input size
        return filename

    return constant


def _spec(
    name: str,
    factory: BackboneFactory,
    preprocessing: str,
    filename_for: Callable[[int], str],
    base_url: str,
    default_input_px: int = 224,
    folds_upsampling: bool = False,
) -> BackboneSpec:
    return BackboneSpec(
        name=name, factory=factory, preprocessing=preprocessing,
        default_input_px=default_input_px, min_input_px=32,  # keras.applications' min_size
        filename_for=filename_for, base_url=base_url, folds_upsampling=folds_upsampling,
    )


_MOBILENET_URL = _KERAS_GCS + "mobilenet/"
_SPECS = (
    _spec("mobilenet_0.25", _mobilenet(0.25), "tf", _mobilenet_filename("2_5"), _MOBILENET_URL,
          folds_upsampling=True),
    _spec("mobilenet_0.5", _mobilenet(0.5), "tf", _mobilenet_filename("5_0"), _MOBILENET_URL,
          folds_upsampling=True),
    _spec("mobilenet_1.0", _mobilenet(1.0), "tf", _mobilenet_filename("1_0"), _MOBILENET_URL,
          folds_upsampling=True),
    _spec(
        "mobilenet_v2_1.0", _plain("MobileNetV2", alpha=1.0), "tf",
        _mobilenet_v2_filename, _KERAS_GCS + "mobilenet_v2/", folds_upsampling=True,
    ),
    _spec(
        "resnet50", _plain("ResNet50"), "caffe",
        _fixed("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"), _KERAS_GCS + "resnet/",
    ),
    _spec(
        "vgg16", _plain("VGG16"), "caffe",
        _fixed("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"), _KERAS_GCS + "vgg16/",
    ),
    _spec(
        "efficientnet_b0", _efficientnet("EfficientNetB0"), "none",
        _fixed("efficientnetb0_notop.h5"), _EFFICIENTNET_URL,
    ),
    _spec(
        "efficientnet_b3", _efficientnet("EfficientNetB3"), "none",
        _fixed("efficientnetb3_notop.h5"), _EFFICIENTNET_URL, default_input_px=300,
    ),
    _spec(
        "convnext_tiny", _plain("ConvNeXtTiny", include_preprocessing=False),
        "torch", _fixed("convnext_tiny_notop.h5"), _KERAS_GCS + "convnext/",
    ),
)

BACKBONES: Mapping[str, BackboneSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})


def get_backbone(name: str) -> BackboneSpec:
    """Look up a backbone by its registry key (config key ``model.backbone``).

    Args:
        name: A key of :data:`BACKBONES`, e.g. ``"mobilenet_0.25"``.

    Returns:
        The backbone's spec.

    Raises:
        ConfigError: ``name`` is not registered; the message lists the choices and the closest
            match.
    """
    if name in BACKBONES:
        return BACKBONES[name]
    close = difflib.get_close_matches(str(name), list(BACKBONES), n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ConfigError(
        f"model.backbone: unknown {name!r}; choose one of: {', '.join(BACKBONES)}.{hint}"
    )
