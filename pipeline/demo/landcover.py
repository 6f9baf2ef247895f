"""The ground of the world image: cultivated fields, bush, bare soil, town ground and water.

Fields form a patchwork of rectangles whose size grows with wealth (smallholder plots where poor,
large regular estates where rich) and whose edges are wobbly where poor. Bush (natural woodland)
is common where poor and sparse where rich. Everything is drawn by vectorised numpy on the whole
world at once; colours are true-colour RGB in [0, 255] (float32, clipped later).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, ndtri

from pipeline.demo.fields import fine_noise
from pipeline.demo.scene import Scene

CROP_COLOURS = np.array(
    [
        [96, 118, 62],  # green crop in leaf
        [126, 134, 72],  # young crop
        [170, 150, 104],  # dry stubble, straw
        [146, 104, 72],  # ploughed red-brown soil
        [134, 124, 88],  # fallow grass
        [108, 90, 64],  # dark tilled soil
    ],
    np.float32,
)
CROP_WEIGHTS = np.array([0.22, 0.14, 0.2, 0.18, 0.16, 0.1])
BUSH = np.array([72, 88, 52], np.float32)
TREE = np.array([44, 60, 36], np.float32)
BARE = np.array([180, 132, 92], np.float32)
TOWN_GROUND = np.array([150, 140, 124], np.float32)
WATER = np.array([34, 58, 82], np.float32)
SHORE = np.array([92, 104, 92], np.float32)

FIELD_SIZES_PX = ((3, 6), (5, 9), (9, 15), (16, 30))
"""(min, max) field side in pixels of each size class, poorest first."""

FIELD_CUTS_W = (-1.0, 0.4, 1.7)
"""Wealth (plus noise) at which the size class steps up."""


def draw_ground(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """Paint the ground of the whole world.

    Args:
        scene: Pixel-resolution state of the world.
        rng: Random source.

    Returns:
        (H, W, 3) float32 RGB image, values roughly in [0, 255].
    """
    shape, w = scene.shape, scene.wealth
    img = _fields(scene, rng)
    bush = fine_noise(shape, rng, scene.grid.px(250.0) + 2.0) < ndtri(_bush_share(w))
    img[bush] = _bush_texture(rng, int(bush.sum()))
    bare_share = 0.03 + 0.07 * expit(-(w + 1.0))
    bare = fine_noise(shape, rng, 2.5) < ndtri(bare_share)
    img[bare] = BARE * rng.normal(1.0, 0.05, (int(bare.sum()), 1)).astype(np.float32)
    lum = 1.0 + 0.045 * rng.standard_normal(shape, dtype=np.float32)
    img *= lum[..., None]
    town = (0.85 * np.clip(1.6 * scene.urban - 0.3, 0.0, 1.0))[..., None]
    img = img * (1.0 - town) + (TOWN_GROUND * lum[..., None]) * town
    img[scene.shore] = SHORE
    img[scene.water] = WATER * (1.0 + 0.03 * rng.standard_normal((int(scene.water.sum()), 1)))
    return img.astype(np.float32)


def _bush_share(wealth: np.ndarray) -> np.ndarray:
    """Share of land under natural vegetation: ~0.64 at W = -2, 0.33 at 0, 0.09 at 2."""
    return 0.05 + 0.65 * expit(-1.3 * (wealth + 0.2))


def _bush_texture(rng: np.random.Generator, n: int) -> np.ndarray:
    """Woodland pixels: olive ground with dark tree crowns (35 % of pixels), (n, 3) float32."""
    trees = rng.random(n) < 0.35
    out = np.where(trees[:, None], TREE, BUSH)
    return (out * rng.normal(1.0, 0.06, (n, 1))).astype(np.float32)


def _fields(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """The patchwork of fields over the whole image, (H, W, 3) float32."""
    shape, w = scene.shape, scene.wealth
    size_class = np.digitize(w + 0.5 * fine_noise(shape, rng, 40.0), FIELD_CUTS_W)
    wobble = np.clip(2.5 - 0.8 * w, 0.3, 3.0)
    rows, cols = np.indices(shape, dtype=np.float32)
    rows = np.clip(rows + wobble * fine_noise(shape, rng, 4.0), 0, shape[0] - 1).astype(np.int32)
    cols = np.clip(cols + wobble * fine_noise(shape, rng, 4.0), 0, shape[1] - 1).astype(np.int32)
    ids = np.zeros(shape, np.int64)
    colour = np.zeros((*shape, 3), np.float32)
    offset = 0
    for k, (lo, hi) in enumerate(FIELD_SIZES_PX):
        sel = size_class == k
        field, n_ids = partition(shape, rng, lo, hi, rows[sel], cols[sel])
        kind = rng.choice(len(CROP_COLOURS), size=n_ids, p=CROP_WEIGHTS)
        shade = rng.normal(1.0, 0.07, n_ids).astype(np.float32)
        colour[sel] = CROP_COLOURS[kind[field]] * shade[field, None]
        ids[sel] = field + offset
        offset += n_ids
    edge = np.zeros(shape, bool)
    edge[1:] |= ids[1:] != ids[:-1]
    edge[:, 1:] |= ids[:, 1:] != ids[:, :-1]
    colour[edge] *= 0.86
    return colour


def partition(
    shape: tuple[int, int], rng: np.random.Generator, lo: int, hi: int, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, int]:
    """Field ids of pixels in a random brick-like partition of an image into rectangles.

    The image is cut into horizontal strips of random heights in [lo, hi] pixels and each strip
    into segments of random widths in [lo, hi], with random offsets.

    Args:
        shape: ``(rows, cols)`` of the image.
        rng: Random source.
        lo: Smallest side, pixels (>= 1).
        hi: Largest side, pixels.
        rows: (n,) int row of each queried pixel, in [0, shape[0]).
        cols: (n,) int column of each queried pixel, in [0, shape[1]).

    Returns:
        ``(ids, n_ids)``: (n,) int64 field id of each queried pixel, in [0, n_ids).
    """
    heights = rng.integers(lo, hi + 1, size=shape[0] // lo + 2)
    row_edges = np.cumsum(heights) - rng.integers(0, hi)
    strip_of_row = np.searchsorted(row_edges, np.arange(shape[0]), side="right")
    n_strips, n_seg = len(heights) + 1, shape[1] // lo + 3
    widths = rng.integers(lo, hi + 1, size=(n_strips, n_seg))
    col_edges = np.cumsum(widths, axis=1) - rng.integers(0, hi, size=(n_strips, 1))
    marks = np.zeros((n_strips, shape[1] + 1), np.int32)
    np.add.at(marks, (np.repeat(np.arange(n_strips), n_seg), np.clip(col_edges, 0, shape[1]).ravel()), 1)
    segment = np.cumsum(marks, axis=1)[:, : shape[1]]
    strip = strip_of_row[rows]
    return strip.astype(np.int64) * (n_seg + 1) + segment[strip, cols], n_strips * (n_seg + 1)
