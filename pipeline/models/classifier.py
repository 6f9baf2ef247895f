"""The night-light classifier: raw pixels -> ImageNet backbone -> features -> light class.

Graph (layer names are a contract; the extract stage reads ``"features"``)::

    pixels (Input, float32, raw 0..255, band-last; BackboneSpec.fed_px pixels a side)
      -> preprocess (ImagenetPreprocess)
      -> backbone (keras.applications model, called with training=False)
      -> features (GlobalAveragePooling2D)        # the penultimate features, (batch, feature_dim)
      -> dropout
      -> nightlight_class (Dense, softmax)         # (batch, n_classes), objective "classes"
         or nightlight_radiance (Dense, linear)    # (batch, 1), objective "radiance"

When the tiles are half the network's input size and the backbone's stem allows it (MobileNet,
MobileNetV2), the model takes the tiles themselves: the 2x bilinear upsampling is folded into the
stem (:mod:`pipeline.models.upsampled_stem`), which computes the same function without making the
4x larger upsampled tensor. Otherwise tiles are resized to ``input_px`` before the model.

The backbone is called with ``training=False`` so its BatchNormalization layers stay in inference
mode even when some of its layers are unfrozen for fine-tuning (the Keras transfer-learning recipe).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.errors import ConfigError, InputDataError
from pipeline.models.backbones import BackboneSpec, get_backbone
from pipeline.models.multiband import transfer_rgb_weights

if TYPE_CHECKING:  # TensorFlow takes seconds to load: imported where used
    import keras

BACKBONE_LAYER = "backbone"
FEATURES_LAYER = "features"
OUTPUT_LAYER = "nightlight_class"
RADIANCE_LAYER = "nightlight_radiance"
OBJECTIVES = ("classes", "radiance")
INPUT_NAME = "pixels"


def build_classifier(
    backbone: BackboneSpec | str,
    input_px: int,
    n_bands: int,
    n_classes: int,
    weights_path: Path | None,
    dropout: float = 0.2,
    seed: int = 0,
    objective: str = "classes",
    tile_px: int | None = None,
) -> keras.Model:
    """Build the (uncompiled) night-light classifier (or regressor) on an ImageNet backbone.

    Args:
        backbone: The backbone's spec, or its registry key (config ``model.backbone``), e.g.
            ``"mobilenet_0.25"``.
        input_px: Tile side length in pixels (config ``model.input_size_px``).
        n_bands: Number of image bands, >= 3; the first 3 are taken as R, G, B.
        n_classes: Number of night-light intensity classes, >= 2 (objective ``classes``).
        weights_path: Backbone weights file (see :func:`pipeline.models.weights.resolve_weights`),
            or ``None`` for random initialisation.
        dropout: Dropout rate in [0, 1) before the output layer.
        seed: Seed of the output layer's initialiser and of the dropout mask.
        objective: ``classes`` (softmax over the classes, Jean et al.) or ``radiance`` (one
            linear output: the tile's standardised log(1 + radiance)).
        tile_px: Side of the tiles the model will be fed, when known. If ``input_px`` is twice
            it and the backbone allows, the upsampling is folded into the stem and the model
            takes ``tile_px`` tiles (``BackboneSpec.fed_px`` says which).

    Returns:
        A model mapping float32 ``(batch, px, px, n_bands)`` raw 0..255 pixels (``px`` is
        ``spec.fed_px(input_px, tile_px)``) to ``(batch, n_classes)`` class probabilities, or
        ``(batch, 1)`` radiance scores.

    Raises:
        ConfigError: An argument is out of range or the backbone is unknown.
        InputDataError: ``weights_path`` does not fit the backbone.
    """
    import keras

    from pipeline.models.preprocess import ImagenetPreprocess
    from pipeline.models.upsampled_stem import fold_upsampling

    spec = backbone if isinstance(backbone, BackboneSpec) else get_backbone(backbone)
    _check_arguments(spec, input_px, n_bands, n_classes if objective == "classes" else 2,
                     dropout)
    if objective not in OBJECTIVES:
        raise ConfigError(f"model.objective must be one of {OBJECTIVES}; got {objective!r}.")
    trunk = _build_backbone(spec, input_px, n_bands, weights_path)
    side = input_px if tile_px is None else spec.fed_px(input_px, tile_px)
    if side != input_px:
        trunk = fold_upsampling(trunk, side)
    pixels = keras.Input(shape=(side, side, n_bands), name=INPUT_NAME, dtype="float32")
    x = ImagenetPreprocess(spec.preprocessing, name="preprocess")(pixels)
    x = trunk(x, training=False)
    features = keras.layers.GlobalAveragePooling2D(name=FEATURES_LAYER)(x)
    x = keras.layers.Dropout(dropout, seed=seed, name="dropout")(features)
    classes = objective == "classes"
    outputs = keras.layers.Dense(
        n_classes if classes else 1,
        activation="softmax" if classes else None,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
        dtype="float32",  # the output stays float32 under a mixed_float16 policy (GPU)
        name=OUTPUT_LAYER if classes else RADIANCE_LAYER,
    )(x)
    return keras.Model(pixels, outputs, name=f"nightlight_{spec.name}")


def _check_arguments(
    spec: BackboneSpec, input_px: int, n_bands: int, n_classes: int, dropout: float
) -> None:
    if input_px < spec.min_input_px:
        raise ConfigError(
            f"model.input_size_px must be at least {spec.min_input_px} for backbone "
            f"{spec.name!r}; got {input_px}. Use larger tiles or upsample them."
        )
    if n_bands < 3:
        raise ConfigError(
            f"the imagery must have at least 3 bands (R, G, B first) for an ImageNet backbone; "
            f"got {n_bands}."
        )
    if n_classes < 2:
        raise ConfigError(f"labels: need at least 2 night-light classes; got {n_classes}.")
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"model.dropout must be in [0, 1); got {dropout}.")


def _build_backbone(
    spec: BackboneSpec, input_px: int, n_bands: int, weights_path: Path | None
) -> keras.Model:
    rgb_shape = (input_px, input_px, 3)
    if n_bands == 3:
        return _load(spec, rgb_shape, weights_path, BACKBONE_LAYER)
    with warnings.catch_warnings():  # keras warns for != 3 channels; the bands are intended
        warnings.filterwarnings("ignore", "This model usually expects 1 or 3", UserWarning)
        multiband = spec.factory((input_px, input_px, n_bands), None, BACKBONE_LAYER)
    if weights_path is not None:
        rgb = _load(spec, rgb_shape, weights_path, f"{BACKBONE_LAYER}_rgb")
        transfer_rgb_weights(rgb, multiband, n_bands)
    return multiband


def _load(
    spec: BackboneSpec, shape: tuple[int, int, int], weights_path: Path | None, name: str
) -> keras.Model:
    try:
        return spec.factory(shape, weights_path, name)
    except (ValueError, OSError) as exc:  # keras/h5py: wrong layout, not an HDF5 file
        if weights_path is None:
            raise
        raise InputDataError(
            f"{weights_path}: cannot load these weights into backbone {spec.name!r} ({exc}). "
            f"Use the no-top ImageNet file {spec.weights_filename(shape[0])} "
            f"({spec.weights_url(shape[0])}) or weights saved from the same backbone."
        ) from exc


def load_classifier(path: Path, compile: bool = True) -> keras.Model:
    """A classifier saved as ``.keras``, loaded with ``safe_mode=True`` (no code runs from the
    file) after registering this package's own layers; ``compile=False`` leaves out the loss
    and the optimizer's state."""
    import keras

    import pipeline.models.preprocess  # noqa: F401 - registers ImagenetPreprocess
    import pipeline.models.upsampled_stem  # noqa: F401 - registers UpsampledStemConv

    return keras.saving.load_model(path, safe_mode=True, compile=compile)


def backbone_layer(model: keras.Model) -> keras.Model:
    """The nested backbone model of a classifier built by :func:`build_classifier`."""
    return _layer(model, BACKBONE_LAYER)


def feature_model(model: keras.Model) -> keras.Model:
    """A model sharing ``model``'s weights that outputs the ``(batch, feature_dim)`` features."""
    import keras

    return keras.Model(model.input, _layer(model, FEATURES_LAYER).output, name="features")


def feature_dim(model: keras.Model) -> int:
    """Length of the penultimate feature vector (the backbone's last channel count)."""
    return int(_layer(model, FEATURES_LAYER).output.shape[-1])


def set_backbone_trainable(model: keras.Model, n_top_layers: int) -> int:
    """Freeze the backbone, or unfreeze its top layers for fine-tuning.

    Layers are counted from the output end among the backbone's layers that hold weights,
    skipping BatchNormalization, which stays frozen (and in inference mode) throughout. The head
    is left as it is. Recompile the model afterwards for the change to take effect.

    Args:
        model: A classifier built by :func:`build_classifier`.
        n_top_layers: 0 freezes the whole backbone; n > 0 unfreezes its top n weighted layers.

    Returns:
        The number of trainable scalar parameters in the backbone afterwards.

    Raises:
        ConfigError: ``n_top_layers`` is negative.
    """
    if n_top_layers < 0:
        raise ConfigError(f"model.unfreeze_layers must be >= 0; got {n_top_layers}.")
    trunk = backbone_layer(model)
    trunk.trainable = n_top_layers > 0
    if n_top_layers > 0:
        weighted = [layer for layer in trunk.layers if layer.weights and not _is_bn(layer)]
        top = {id(layer) for layer in weighted[-n_top_layers:]}
        for layer in trunk.layers:
            layer.trainable = id(layer) in top
        for layer in _all_layers(trunk):
            if _is_bn(layer):
                layer.trainable = False
    return int(sum(np.prod(weight.shape) for weight in trunk.trainable_weights))


def _is_bn(layer: keras.layers.Layer) -> bool:
    import keras

    return isinstance(layer, keras.layers.BatchNormalization)


def _all_layers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    nested = getattr(layer, "layers", [])
    return [layer] + [inner for child in nested for inner in _all_layers(child)]


def _layer(model: keras.Model, name: str) -> keras.layers.Layer:
    try:
        return model.get_layer(name)
    except ValueError as exc:
        raise InputDataError(
            f"model {model.name!r} has no layer named {name!r}; it was not built by "
            "pipeline.models.build_classifier. Retrain it with the train stage."
        ) from exc
