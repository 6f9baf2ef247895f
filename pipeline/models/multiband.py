"""Carry RGB ImageNet weights over to a backbone that takes more than 3 bands.

Following Yeh et al. 2020 (Nature Communications 11:2583), the first convolution keeps its RGB
filters and each extra input channel starts from the mean of the RGB filters; all input filters
are then scaled by ``3 / n_bands`` so the first layer's activations keep their ImageNet scale.
Every other weight is copied unchanged. Per-band input statistics in the backbone (EfficientNet's
stem ``Normalization``) keep the RGB values and give the extra bands a mean of 0.5 and a variance
of 0.25, which after the stem's ``x / 255`` maps 0..255 to -1..1 (the ``"tf"`` scaling).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipeline.errors import StageError

if TYPE_CHECKING:  # TensorFlow takes seconds to load: imported where used
    import keras

_EXTRA_BAND_STATS = {"mean": 0.5, "variance": 0.25}


def expand_first_conv(kernel: np.ndarray, n_bands: int) -> np.ndarray:
    """Widen a first-layer conv kernel from 3 input channels to ``n_bands``.

    Args:
        kernel: Kernel of shape ``(kh, kw, 3, filters)`` (RGB input channels).
        n_bands: Number of input bands wanted, >= 3.

    Returns:
        Kernel of shape ``(kh, kw, n_bands, filters)``: ``kernel * 3 / n_bands`` for the RGB
        channels, then ``mean(kernel over RGB) * 3 / n_bands`` for each extra channel.
    """
    mean = kernel.mean(axis=2, keepdims=True)
    extra = np.repeat(mean, n_bands - 3, axis=2)
    return (np.concatenate([kernel, extra], axis=2) * (3.0 / n_bands)).astype(kernel.dtype)


def transfer_rgb_weights(rgb: keras.Model, multiband: keras.Model, n_bands: int) -> None:
    """Copy every weight of a 3-band backbone into the same architecture built for ``n_bands``.

    Args:
        rgb: Backbone built for 3 bands, holding the weights to transfer.
        multiband: The same backbone built for ``n_bands`` bands; its weights are overwritten.
        n_bands: Number of input bands of ``multiband``.

    Raises:
        StageError: The two models differ in architecture beyond the input channels.
    """
    if len(rgb.layers) != len(multiband.layers):
        raise StageError(
            f"cannot transfer weights: {rgb.name!r} has {len(rgb.layers)} layers but the "
            f"{n_bands}-band copy has {len(multiband.layers)}; the backbone factory must build "
            "the same architecture for any number of bands."
        )
    for source, target in zip(rgb.layers, multiband.layers, strict=True):
        _copy_layer(source, target, n_bands)


def _copy_layer(source: keras.layers.Layer, target: keras.layers.Layer, n_bands: int) -> None:
    import keras

    if type(source) is not type(target) or len(source.weights) != len(target.weights):
        raise StageError(
            f"cannot transfer weights: layer {source.name!r} ({type(source).__name__}) does not "
            f"match layer {target.name!r} ({type(target).__name__}) of the {n_bands}-band backbone."
        )
    for src_var, dst_var in zip(source.weights, target.weights, strict=True):
        value = np.asarray(keras.ops.convert_to_numpy(src_var))
        if value.shape != tuple(dst_var.shape):
            value = _widen(source, src_var.name, value, n_bands)
        dst_var.assign(value)
    if hasattr(target, "finalize_state"):  # e.g. Normalization caches tensors from its variables
        target.finalize_state()


def _widen(layer: keras.layers.Layer, var_name: str, value: np.ndarray, n_bands: int) -> np.ndarray:
    import keras

    if value.ndim == 4 and value.shape[2] == 3:
        return expand_first_conv(value, n_bands)
    if isinstance(layer, keras.layers.Normalization) and var_name in _EXTRA_BAND_STATS:
        extra = np.full(value.shape[:-1] + (n_bands - 3,), _EXTRA_BAND_STATS[var_name], value.dtype)
        return np.concatenate([value, extra], axis=-1)
    raise StageError(
        f"cannot transfer weights: variable {var_name!r} of layer {layer.name!r} has shape "
        f"{value.shape}, which depends on the number of input bands in a way this code does not "
        "know; use a 3-band input or model.weights: none."
    )
