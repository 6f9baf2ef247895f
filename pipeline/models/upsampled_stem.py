"""Run a backbone on 2x-upsampled tiles without upsampling them: fold the resize into the stem.

A network at ``input_px`` fed tiles of ``input_px / 2`` pixels first upsamples them (bilinear)
and then applies its stem, a 3x3 stride-2 convolution with ``"same"`` padding (MobileNet,
MobileNetV2). Both are linear, so their composition is one 3x3 stride-1 convolution on the
tile itself: each output pixel sees the upsampled rows ``2j .. 2j+2``, which are fixed
combinations of the tile rows ``j-1 .. j+1`` (:data:`TAPS`). :class:`UpsampledStemConv` computes
exactly ``conv(resize(x, 2x), kernel, stride 2, "same")`` this way (float rounding aside),
including the border: the tile's edge is replicated as the bilinear resize clamps it, and the
stride-2 convolution's zero padding past the last upsampled row and column is restored by a
correction of the last output row and column.

It keeps the stem's own 3x3 kernel as its weight, so ImageNet weights, the multi-band transfer
and fine-tuning see the same variable as in the unfolded network. :func:`fold_upsampling` swaps
it in for the stem of a backbone and rebuilds the backbone at the tile size; the 4x larger
upsampled tensor is never made, which is what on-the-fly resizing cost (``make bench``).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

TAPS = np.array([[0.25, 0.0, 0.0],
                 [0.75, 0.75, 0.25],
                 [0.0, 0.25, 0.75]], dtype=np.float32)
"""``TAPS[d + 1, t]``: weight of tile row ``j + d`` in upsampled row ``2j + t`` (bilinear,
half-pixel centres, scale 2), so the stride-2 kernel ``w`` acts on the tile as
``TAPS @ w @ TAPS.T``."""


@keras.saving.register_keras_serializable(package="poverty_pipeline")
class UpsampledStemConv(keras.layers.Layer):
    """``conv2d(resize(x, 2 x size, bilinear), kernel, strides=2, padding="same")``, on ``x``.

    Args:
        filters: Output channels (the stem's).
        use_bias: Whether the stem has a bias.
        **kwargs: Passed to :class:`keras.layers.Layer` (``name``, ``dtype``, ``trainable``).

    Input shape: ``(batch, s, s, channels)``. Output: ``(batch, s, s, filters)``, what the stem
    gives on the ``2s`` upsampled input. Weights: ``kernel`` ``(3, 3, channels, filters)``, the
    stem's own, and ``bias`` when ``use_bias``.
    """

    def __init__(self, filters: int, use_bias: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.use_bias = bool(use_bias)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        """Create ``kernel`` (and ``bias``) for ``input_shape[-1]`` channels."""
        self.kernel = self.add_weight(name="kernel",
                                      shape=(3, 3, int(input_shape[-1]), self.filters))
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, inputs: Any) -> Any:
        """The stem's output on the upsampled input; see the module docstring."""
        x, w = tf.convert_to_tensor(inputs), tf.convert_to_tensor(self.kernel)
        taps = tf.constant(TAPS, dtype=w.dtype)
        folded = tf.einsum("ia,jb,abcf->ijcf", taps, taps, w)
        edged = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")  # = edge clamp
        out = tf.nn.conv2d(edged, folded, 1, "VALID")
        # ``out`` took the row/column past the upsampled edge as a copy of the last one (the
        # replicated tile edge); the stride-2 "same" convolution took zeros. Remove the bottom
        # kernel row's share from the last output row, the right kernel column's from the last
        # column, and give back the corner, which both removed.
        s = tf.shape(x)[1]
        last_row = _edge_repeat(_resize(x[:, -1:], (1, 2 * s)), axis=2)
        last_col = _edge_repeat(_resize(x[:, :, -1:], (2 * s, 1)), axis=1)
        row_share = tf.nn.conv2d(last_row, w[2:], (1, 2), "VALID")         # (n, 1, s, f)
        col_share = tf.nn.conv2d(last_col, w[:, 2:], (2, 1), "VALID")      # (n, s, 1, f)
        corner = tf.einsum("nc,cf->nf", x[:, -1, -1], w[2, 2])[:, None, None]
        col_share -= tf.pad(corner, [[0, 0], [s - 1, 0], [0, 0], [0, 0]])
        # a scatter into ``out``: measured faster than rebuilding it by concatenation
        batch, along = tf.meshgrid(tf.range(tf.shape(x)[0]), tf.range(s), indexing="ij")
        last = tf.fill(tf.shape(batch), s - 1)
        out = tf.tensor_scatter_nd_sub(out, tf.stack([batch, last, along], -1), row_share[:, 0])
        out = tf.tensor_scatter_nd_sub(out, tf.stack([batch, along, last], -1), col_share[:, :, 0])
        if self.use_bias:
            out = tf.nn.bias_add(out, self.bias)
        return out

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        """Same spatial size as the input, ``filters`` channels."""
        return (*input_shape[:-1], self.filters)

    def get_config(self) -> dict[str, Any]:
        """Config for serialisation: the base layer's plus ``filters`` and ``use_bias``."""
        return {**super().get_config(), "filters": self.filters, "use_bias": self.use_bias}


def _resize(x: tf.Tensor, size: tuple[Any, Any]) -> tf.Tensor:
    """Bilinear resize that keeps ``x``'s dtype (float16 under mixed precision)."""
    return tf.cast(tf.image.resize(x, size), x.dtype)


def _edge_repeat(x: tf.Tensor, axis: int) -> tf.Tensor:
    """``x`` with its last slice along ``axis`` appended once more."""
    last = tf.gather(x, [tf.shape(x)[axis] - 1], axis=axis)
    return tf.concat([x, last], axis=axis)


def foldable_stem(backbone: keras.Model) -> keras.layers.Conv2D | None:
    """The backbone's stem when it can absorb a 2x upsampling, else None.

    That is a plain 3x3, stride-2, ``"same"``-padded convolution applied to the backbone's input
    itself (MobileNet, MobileNetV2); ResNet50, VGG16, EfficientNet and ConvNeXt stems are not.
    """
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        plain = (type(layer) is keras.layers.Conv2D and tuple(layer.kernel_size) == (3, 3)
                 and tuple(layer.strides) == (2, 2) and layer.padding == "same"
                 and tuple(layer.dilation_rate) == (1, 1) and layer.groups == 1
                 and layer.activation is keras.activations.linear
                 and layer.input is backbone.inputs[0])
        return layer if plain else None
    return None


def fold_upsampling(backbone: keras.Model, tile_px: int) -> keras.Model:
    """The backbone rebuilt to take ``tile_px`` tiles, its stem computing on them what it
    computed on the ``2 x tile_px`` upsampled tiles (:class:`UpsampledStemConv`).

    Args:
        backbone: A backbone at input size ``2 * tile_px`` whose stem :func:`foldable_stem`
            accepts, with its weights loaded.
        tile_px: Side of the tiles it will be fed.

    Returns:
        A new model with the same layer names and the same weights (copied).

    Raises:
        ValueError: The stem cannot be folded or the sizes do not match.
    """
    stem = foldable_stem(backbone)
    if stem is None or int(backbone.inputs[0].shape[1]) != 2 * tile_px:
        raise ValueError(f"backbone {backbone.name!r} cannot take {tile_px} px tiles for its "
                         f"{backbone.inputs[0].shape[1]} px input by folding the upsampling.")

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        if layer is stem:
            return UpsampledStemConv(stem.filters, stem.use_bias, name=stem.name,
                                     trainable=stem.trainable, dtype=stem.dtype_policy)
        return layer.__class__.from_config(layer.get_config())

    channels = int(backbone.inputs[0].shape[-1])
    inputs = keras.Input((tile_px, tile_px, channels), name=backbone.layers[0].name)
    folded = keras.models.clone_model(backbone, input_tensors=inputs, clone_function=clone)
    folded.set_weights(backbone.get_weights())
    return folded

