"""Buildings on the world image: small rectangles with roofs whose material depends on wealth.

The image is divided into square building sites of ``SITE_PX`` pixels. A site is built on with a
probability rising with wealth (:func:`pipeline.demo.fields.building_density`), clumped into
hamlets in the countryside and dense in towns. Each building's roof is drawn at random with
probabilities driven by the household's wealth (:func:`roof_probabilities`): thatch for the
poorest, corrugated iron (bright, sometimes rusty) rising steadily through the poor-to-middle
range, clay tiles and white concrete for the richest. Rural compounds have a swept earth yard;
every building casts a 1-px shadow to the south-east.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, softmax

from pipeline.demo.fields import building_density, fine_noise
from pipeline.demo.roads import SITE_PX, RoadMasks
from pipeline.demo.scene import Scene

ROOF_NAMES = ("thatch", "iron", "tile", "concrete")
THATCH = np.array([[118, 96, 62], [98, 86, 66], [136, 114, 76]], np.float32)
IRON = np.array([190, 194, 198], np.float32)
RUST = np.array([150, 94, 64], np.float32)
TILE = np.array([180, 84, 54], np.float32)
CONCRETE = np.array([228, 227, 220], np.float32)
YARD = np.array([178, 154, 122], np.float32)
SHADOW = 0.55


def roof_probabilities(wealth: np.ndarray) -> np.ndarray:
    """Probabilities of each roof material (``ROOF_NAMES`` order) for households of given wealth.

    Multinomial logit: iron overtakes thatch at W = -0.6 (14 % iron at W = -2, 69 % at W = 0),
    tiles and concrete appear above W ~ 1 and reach ~25 % each at W = 3.

    Args:
        wealth: (n,) standardised wealth.

    Returns:
        (n, 4) float64 rows summing to 1.
    """
    w = np.asarray(wealth, float)
    scores = np.stack([np.zeros_like(w), 1.3 * (w + 0.6), 2.0 * (w - 1.0), 2.3 * (w - 1.4)], axis=-1)
    return softmax(scores, axis=-1)


def draw_buildings(img: np.ndarray, scene: Scene, roads: RoadMasks, rng: np.random.Generator) -> int:
    """Paint every building into ``img`` in place.

    Args:
        img: (H, W, 3) float32 RGB image of the world.
        scene: Pixel-resolution state of the world.
        roads: Where roads were drawn; sites touching them stay empty.
        rng: Random source.

    Returns:
        Number of buildings drawn.
    """
    top, left, wealth, urban = _occupied_sites(scene, roads, rng)
    n = len(top)
    wealth = wealth + rng.normal(0.0, 0.35, n)
    big = rng.random(n) < 0.3 + 0.4 * expit(wealth - 1.0)
    height = 2 + (rng.random(n) < 0.5) * big + (rng.random(n) < 0.5 * expit(wealth - 2.5))
    width = 2 + (rng.random(n) < 0.5) * big + (rng.random(n) < 0.5 * expit(wealth - 2.5))
    top = top + (rng.random(n) * (SITE_PX - height)).astype(int)
    left = left + (rng.random(n) * (SITE_PX - width)).astype(int)
    rural = ~urban
    _fill(img, top[rural] - 1, left[rural] - 1, height[rural] + 2, width[rural] + 2, YARD, 0.75)
    _fill(img, top, left, height, width, _roof_colours(wealth, rng), 1.0)
    _shadow(img, top, left, height, width)
    _big_buildings(img, scene, rng)
    return n


def _occupied_sites(
    scene: Scene, roads: RoadMasks, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel ``(top, left)``, wealth and urban flag of every built-on site."""
    n_r, n_c = scene.shape[0] // SITE_PX, scene.shape[1] // SITE_PX
    mid = SITE_PX // 2
    wealth = scene.wealth[mid::SITE_PX, mid::SITE_PX][:n_r, :n_c]
    urban = scene.urban[mid::SITE_PX, mid::SITE_PX][:n_r, :n_c] > 0.5
    blocked_px = scene.water | scene.shore | roads.paved | roads.tracks
    blocked_px = blocked_px[: n_r * SITE_PX, : n_c * SITE_PX]
    blocked = blocked_px.reshape(n_r, SITE_PX, n_c, SITE_PX).any(axis=(1, 3))
    clump = np.exp(0.7 * fine_noise((n_r, n_c), rng, scene.grid.px(150.0) / SITE_PX + 1.0) - 0.245)
    density = building_density(wealth)
    share = np.where(urban, np.maximum(density, 0.45), density * clump)
    built = (rng.random((n_r, n_c)) < np.clip(share, 0.0, 0.9)) & ~blocked
    rows, cols = np.nonzero(built)
    return rows * SITE_PX, cols * SITE_PX, wealth[rows, cols].astype(float), urban[rows, cols]


def _roof_colours(wealth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random roof colour per building, (n, 3) float32."""
    n = len(wealth)
    cum = np.cumsum(roof_probabilities(wealth), axis=1)
    kind = (rng.random(n)[:, None] > cum[:, :-1]).sum(axis=1)
    rusty = rng.random(n) < 0.1 + 0.3 * expit(-wealth)
    colours = np.select(
        [kind[:, None] == 0, (kind[:, None] == 1) & rusty[:, None], kind[:, None] == 1, kind[:, None] == 2],
        [THATCH[rng.integers(0, len(THATCH), n)], RUST, IRON, TILE],
        CONCRETE,
    )
    colours = colours * rng.normal(1.0, 0.07, (n, 1)) + rng.normal(0.0, 4.0, (n, 3))
    return colours.astype(np.float32)


def _rect_pixels(
    shape: tuple[int, ...], top: np.ndarray, left: np.ndarray, height: np.ndarray, width: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and owner index of every in-image pixel of the given rectangles."""
    side = int(max(height.max(initial=1), width.max(initial=1)))
    dy, dx = (a.ravel() for a in np.mgrid[0:side, 0:side])
    rr = top[:, None] + dy[None, :]
    cc = left[:, None] + dx[None, :]
    ok = (dy[None, :] < height[:, None]) & (dx[None, :] < width[:, None])
    ok &= (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
    owner = np.broadcast_to(np.arange(len(top))[:, None], rr.shape)
    return rr[ok], cc[ok], owner[ok]


def _fill(
    img: np.ndarray, top: np.ndarray, left: np.ndarray, height: np.ndarray, width: np.ndarray,
    colour: np.ndarray, alpha: float,
) -> None:
    """Paint rectangles (one colour, or one per rectangle) with opacity ``alpha``."""
    rr, cc, owner = _rect_pixels(img.shape, top, left, height, width)
    colour = np.broadcast_to(np.asarray(colour, np.float32), (len(top), 3))[owner]
    img[rr, cc] = img[rr, cc] * (1.0 - alpha) + colour * alpha


def _shadow(img: np.ndarray, top: np.ndarray, left: np.ndarray, height: np.ndarray, width: np.ndarray) -> None:
    """Darken the 1-px strips just east and south of each rectangle."""
    one = np.ones_like(top)
    for t, le, h, w in ((top + 1, left + width, height, one), (top + height, left + 1, one, width)):
        rr, cc, _ = _rect_pixels(img.shape, t, le, h, w)
        img[rr, cc] *= SHADOW


def _big_buildings(img: np.ndarray, scene: Scene, rng: np.random.Generator) -> None:
    """Warehouses, markets and schools: a few 6-9 px iron or concrete roofs in rich town areas."""
    rich = (scene.urban > 0.5) & (scene.wealth > 1.0)
    n = rng.poisson(rich.sum() / 2500.0)
    if n == 0:
        return
    pick = rng.choice(np.flatnonzero(rich), size=n)
    top, left = np.unravel_index(pick, scene.shape)
    height, width = rng.integers(6, 10, n), rng.integers(6, 10, n)
    colours = np.where((rng.random(n) < 0.5)[:, None], IRON, CONCRETE) * rng.normal(1.0, 0.05, (n, 1))
    _fill(img, top, left, height, width, colours.astype(np.float32), 1.0)
    _shadow(img, top, left, height, width)
