"""Keras backbones, ImageNet weight resolution, in-graph preprocessing and the classifier.

Typical use (the train stage)::

    spec = get_backbone("mobilenet_0.25")
    path = resolve_weights(spec, Weights.parse("imagenet"), 64, weights_dir)
    model = build_classifier(spec, 64, n_bands, n_classes, path)
    set_backbone_trainable(model, 0)   # train the head, then unfreeze the top and recompile
"""

from pipeline.models.backbones import (
    BACKBONES,
    PREPROCESSING_MODES,
    BackboneFactory,
    BackboneSpec,
    get_backbone,
)
from pipeline.models.classifier import (
    backbone_layer,
    build_classifier,
    feature_dim,
    feature_model,
    set_backbone_trainable,
)
from pipeline.models.multiband import expand_first_conv, transfer_rgb_weights
from pipeline.models.weights import (
    WEIGHTS_DIR_ENV,
    Weights,
    default_keras_cache_dir,
    resolve_weights,
)


def __getattr__(name: str) -> object:
    """:class:`ImagenetPreprocess` on first use: its module defines a Keras layer, and TensorFlow
    takes seconds to load (``validate`` and ``status`` never need it)."""
    if name == "ImagenetPreprocess":
        from pipeline.models.preprocess import ImagenetPreprocess

        return ImagenetPreprocess
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "BACKBONES",
    "PREPROCESSING_MODES",
    "WEIGHTS_DIR_ENV",
    "BackboneFactory",
    "BackboneSpec",
    "ImagenetPreprocess",
    "Weights",
    "backbone_layer",
    "build_classifier",
    "default_keras_cache_dir",
    "expand_first_conv",
    "feature_dim",
    "feature_model",
    "get_backbone",
    "resolve_weights",
    "set_backbone_trainable",
    "transfer_rgb_weights",
]
