"""What a demo world is: its specification, the pixel grids derived from it, and its random streams.

Coordinates used across ``pipeline.demo``:

* *fine pixels*: ``(row, col)`` floats over the whole world image, row 0 at the north edge, one unit
  per image pixel (``gsd_m`` metres); pixel ``(i, j)`` has its centre at ``(i + 0.5, j + 0.5)``.
  Geometry outside the world (the margin) has negative or too-large values.
* *coarse cells*: the latent fields live on a grid ``COARSE_FACTOR`` pixels per cell that also
  covers a margin of ``PAD_M`` metres around the world (nightlights need it).
* *map*: ``(x, y)`` metres in ``spec.crs``; ``x = origin_x_m + col * gsd_m``,
  ``y = origin_y_m - row * gsd_m``.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
from pyproj import CRS
from pyproj.exceptions import CRSError

from pipeline.errors import ConfigError

COARSE_FACTOR = 4
"""Fine pixels per coarse cell along each axis."""

PAD_M = 4000.0
"""Margin around the world covered by the latent fields, metres (nightlights cover ~2 km)."""

REFERENCE_EXTENT_M = 38400.0
"""World extent at which every length scale is real size (the default 40 x 64 px x 15 m)."""

MIN_SCALE = 0.1
"""Smallest miniature factor; smaller worlds keep the scales of a 3.84 km world."""


@dataclass(frozen=True)
class WorldSpec:
    """Everything that determines a demo world; the same spec always gives the same bytes.

    Attributes:
        seed: Non-negative integer seed of every random draw.
        n_tiles_x: Tiles across (columns).
        n_tiles_y: Tiles down (rows); row 0 is the northern row.
        tile_size_px: Tile width and height in pixels.
        gsd_m: Ground sample distance, metres per pixel.
        n_clusters: Survey clusters with coordinates (the CSV has 2 more, lacking coordinates).
        crs: Projected CRS of the tiles, with metre units.
        origin_x_m: Upper-left corner x in ``crs`` units (metres).
        origin_y_m: Upper-left corner y in ``crs`` units (metres).
        year: Survey year written into the survey table.
        plant: A change planted into the otherwise identical world of the same spec:
            ``"town"`` (a new town grows) or ``"road"`` (a new paved road runs east), or None.
            Outside the planted area the tiles are byte-identical to the world without it
            (see :mod:`pipeline.demo.change`).
        plant_x, plant_y: Where, as fractions (0 to 1) of the world's width and height from
            its north-west corner: the town's centre, or the road's western end.
    """

    seed: int = 0
    n_tiles_x: int = 40
    n_tiles_y: int = 40
    tile_size_px: int = 64
    gsd_m: float = 15.0
    n_clusters: int = 400
    crs: str = "EPSG:32736"
    origin_x_m: float = 700000.0
    origin_y_m: float = 8510000.0
    year: int = 2016
    plant: str | None = None
    plant_x: float = 0.3
    plant_y: float = 0.3

    def __post_init__(self) -> None:
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("n_tiles_x", self.n_tiles_x, 1, 2000)
        _check_int("n_tiles_y", self.n_tiles_y, 1, 2000)
        _check_int("tile_size_px", self.tile_size_px, 8, 4096)
        _check_int("n_clusters", self.n_clusters, 1, 100000)
        _check_int("year", self.year, 1900, 2100)
        for name in ("gsd_m", "origin_x_m", "origin_y_m"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"WorldSpec.{name} must be a finite number; got {value!r}.")
        if self.gsd_m <= 0:
            raise ConfigError(f"WorldSpec.gsd_m must be > 0 metres per pixel; got {self.gsd_m!r}.")
        _check_crs(self.crs)
        if self.plant not in (None, "town", "road"):
            raise ConfigError(f"WorldSpec.plant must be 'town', 'road' or None; got {self.plant!r}.")
        for name in ("plant_x", "plant_y"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(f"WorldSpec.{name} must be a fraction in [0, 1]; got {value!r}.")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ConfigError(f"WorldSpec.{name} must be an integer in [{low}, {high}]; got {value!r}.")


def _check_crs(crs: object) -> None:
    try:
        parsed = CRS.from_user_input(crs)
    except CRSError as exc:
        raise ConfigError(f"WorldSpec.crs must be a CRS pyproj understands; got {crs!r}.") from exc
    unit = parsed.axis_info[0].unit_name if parsed.axis_info else ""
    if not parsed.is_projected or unit not in ("metre", "meter"):
        raise ConfigError(
            f"WorldSpec.crs must be a projected CRS in metres (e.g. a UTM zone 'EPSG:32736'); "
            f"got {crs!r}."
        )


@dataclass(frozen=True)
class WorldGrid:
    """Pixel and cell geometry derived from a :class:`WorldSpec`.

    Attributes:
        spec: The spec it derives from.
        height_px: World image height, fine pixels.
        width_px: World image width, fine pixels.
        scale: Miniature factor in [MIN_SCALE, 1]: every length scale of the world (field
            correlation lengths, town sizes, survey radius, displacement caps) is multiplied by it,
            so small test worlds keep poor and rich places. 1 for worlds >= 38.4 km across.
        pad_cells: Coarse cells of margin on each side.
        coarse_shape: ``(rows, cols)`` of the coarse grid, margin included.
    """

    spec: WorldSpec
    height_px: int
    width_px: int
    scale: float
    pad_cells: int
    coarse_shape: tuple[int, int]

    @classmethod
    def from_spec(cls, spec: WorldSpec) -> WorldGrid:
        """Derive the grid of ``spec``."""
        height = spec.n_tiles_y * spec.tile_size_px
        width = spec.n_tiles_x * spec.tile_size_px
        extent_m = min(height, width) * spec.gsd_m
        scale = float(np.clip(extent_m / REFERENCE_EXTENT_M, MIN_SCALE, 1.0))
        pad = int(math.ceil(PAD_M / (COARSE_FACTOR * spec.gsd_m)))
        shape = (
            int(math.ceil(height / COARSE_FACTOR)) + 2 * pad,
            int(math.ceil(width / COARSE_FACTOR)) + 2 * pad,
        )
        return cls(spec, height, width, scale, pad, shape)

    @property
    def cell_m(self) -> float:
        """Coarse cell size, metres."""
        return COARSE_FACTOR * self.spec.gsd_m

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """World bounds ``(minx, miny, maxx, maxy)`` in ``spec.crs`` metres."""
        s = self.spec
        return (
            s.origin_x_m,
            s.origin_y_m - self.height_px * s.gsd_m,
            s.origin_x_m + self.width_px * s.gsd_m,
            s.origin_y_m,
        )

    def px(self, metres: float) -> float:
        """A real-world length in metres, miniaturised by ``scale``, as fine pixels."""
        return metres * self.scale / self.spec.gsd_m

    def cell_centres_px(self) -> tuple[np.ndarray, np.ndarray]:
        """Fine-pixel coordinates of the coarse cell centres.

        Returns:
            ``(rows, cols)``: float64 vectors of lengths ``coarse_shape[0]`` and ``[1]``.
        """
        rows = (np.arange(self.coarse_shape[0]) - self.pad_cells + 0.5) * COARSE_FACTOR
        cols = (np.arange(self.coarse_shape[1]) - self.pad_cells + 0.5) * COARSE_FACTOR
        return rows, cols

    def px_to_xy(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fine-pixel coordinates to map coordinates ``(x, y)`` in metres of ``spec.crs``."""
        s = self.spec
        return s.origin_x_m + np.asarray(cols) * s.gsd_m, s.origin_y_m - np.asarray(rows) * s.gsd_m

    def xy_to_px(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates in metres of ``spec.crs`` to fine-pixel ``(rows, cols)``."""
        s = self.spec
        return (s.origin_y_m - np.asarray(y)) / s.gsd_m, (np.asarray(x) - s.origin_x_m) / s.gsd_m


def stream(spec: WorldSpec, name: str) -> np.random.Generator:
    """An independent random generator for one named part of the world.

    Named streams keep parts independent: changing how towns are drawn does not change the
    survey noise. The same ``(spec.seed, name)`` always gives the same sequence.
    """
    return np.random.default_rng([spec.seed, zlib.crc32(name.encode("ascii"))])
