"""Write a whole demo world to disk: tiles, nightlights, survey, truth, and world.json last.

Layout of ``out_dir``::

    tiles/tile_r{row:03d}_c{col:03d}.tif   3-band uint8 RGB GeoTIFFs in spec.crs, row 0 north
    nightlights.tif                        1-band float32 radiance, EPSG:4326, 15 arc-seconds
    survey.csv                             one row per cluster (see pipeline.demo.survey)
    truth.npz                              latent truth, for diagnostics only (never an input)
    world.json                             the spec and a description (and, for a world with a
                                           planted change, its tiles); written last
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from pipeline.demo.change import Planted, plant_change
from pipeline.demo.fields import LatentFields, interior, make_fields
from pipeline.demo.layout import make_layout
from pipeline.demo.nightlights import make_nightlights, write_nightlights
from pipeline.demo.scene import make_scene
from pipeline.demo.spec import COARSE_FACTOR, WorldGrid, WorldSpec
from pipeline.demo.survey import Survey, make_survey
from pipeline.demo.tiles import render, tile_path, write_tiles
from pipeline.errors import InputDataError

FORMAT_VERSION = 1
"""Bumped whenever the generator's output changes for a given spec (forces a rewrite)."""

DESCRIPTION = (
    "Synthetic 'Demoland' world made by pipeline.demo: RGB tiles whose buildings, roofs, fields, "
    "bush and roads follow a latent wealth field; VIIRS-like nightlights that are dark for the "
    "poorest ~60% of land and saturate in the city; a DHS-like survey with displaced coordinates "
    "and 2 missing-GPS rows. truth.npz holds the latent truth and is never a pipeline input."
)


def generate_world(out_dir: str | Path, spec: WorldSpec = WorldSpec(), *, progress: bool = True) -> Path:
    """Write the demo world of ``spec`` into ``out_dir`` and return ``out_dir``.

    If ``out_dir/world.json`` already records the same spec (and generator format version),
    nothing is written. Otherwise world.json is removed first, every output is (re)written,
    stale tiles from an earlier spec are deleted, and world.json is written last, so a crash
    midway leaves no world.json and the next call starts again. Same spec, same bytes.

    Args:
        out_dir: Folder to write into (created if absent).
        spec: What world to make.
        progress: Show a progress bar while writing tiles (only on a terminal).

    Returns:
        ``out_dir`` as a :class:`~pathlib.Path`.

    Raises:
        InputDataError: ``out_dir`` exists and is not a folder.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputDataError(
            f"{out}: the demo world's out_dir exists and is not a folder; pick another path."
        )
    if is_current(out, spec):
        return out
    out.mkdir(parents=True, exist_ok=True)
    (out / "world.json").unlink(missing_ok=True)
    grid = WorldGrid.from_spec(spec)
    layout = make_layout(grid)
    planted = plant_change(grid, layout) if spec.plant else None
    fields = make_fields(grid, layout if planted is None else planted.layout)
    _clear_tiles(out / "tiles")
    image = render(make_scene(grid, layout if planted is None else planted.layout, fields))
    if planted is not None:  # the plain world's drawing outside the planted area
        plain = render(make_scene(grid, layout, make_fields(grid, layout)))
        image = np.where(planted.mask[..., None], image, plain)
    write_tiles(image, grid, out / "tiles", progress=progress)
    radiance, transform = make_nightlights(grid, fields)
    write_nightlights(out / "nightlights.tif", radiance, transform)
    survey = make_survey(grid, fields)
    survey.table.to_csv(out / "survey.csv", index=False, lineterminator="\n")
    _write_truth(out / "truth.npz", grid, fields, survey)
    _write_json(out / "world.json", spec, grid, planted)
    return out


def is_current(out_dir: str | Path, spec: WorldSpec) -> bool:
    """Whether ``out_dir`` holds a complete world of ``spec`` by this generator version."""
    path = Path(out_dir) / "world.json"
    try:
        recorded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return recorded.get("spec") == asdict(spec) and recorded.get("format_version") == FORMAT_VERSION


def _clear_tiles(tiles_dir: Path) -> None:
    """Delete tiles a previous (possibly larger) world left behind; nothing else."""
    if tiles_dir.is_dir():
        for path in tiles_dir.glob("tile_r*_c*.tif"):
            path.unlink()


def _write_truth(path: Path, grid: WorldGrid, fields: LatentFields, survey: Survey) -> None:
    """Latent truth for diagnostics: tile-mean wealth and the clusters' true positions."""
    spec = grid.spec
    per_tile = spec.tile_size_px // COARSE_FACTOR
    inner = interior(grid, fields.wealth)
    if spec.tile_size_px % COARSE_FACTOR == 0:
        wealth_tile = inner.reshape(spec.n_tiles_y, per_tile, spec.n_tiles_x, per_tile).mean(axis=(1, 3))
    else:  # tiles not aligned with coarse cells: sample at tile centres
        rows = ((np.arange(spec.n_tiles_y) + 0.5) * spec.tile_size_px / COARSE_FACTOR).astype(int)
        cols = ((np.arange(spec.n_tiles_x) + 0.5) * spec.tile_size_px / COARSE_FACTOR).astype(int)
        wealth_tile = inner[np.ix_(rows, cols)]
    table = survey.table
    _save_npz(
        path,
        wealth_tile=wealth_tile.astype(np.float32),
        cluster_id=table["cluster_id"].to_numpy(dtype="U16"),
        true_x_m=survey.true_x_m,
        true_y_m=survey.true_y_m,
        displacement_m=survey.displacement_m,
        displacement_cap_m=survey.cap_m,
        wealth_local=survey.wealth_local,
    )


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Like ``np.savez`` but byte-reproducible (fixed zip timestamps)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buffer.getvalue())


def _write_json(path: Path, spec: WorldSpec, grid: WorldGrid, planted: Planted | None) -> None:
    record: dict[str, object] = {
        "generator": "pipeline.demo",
        "format_version": FORMAT_VERSION,
        "description": DESCRIPTION,
        "spec": asdict(spec),
        "bounds": list(grid.bounds),
        "scale": grid.scale,
    }
    if planted is not None:
        rows, cols = np.nonzero(planted.tiles(grid))
        record["planted"] = {"kind": spec.plant, "x": spec.plant_x, "y": spec.plant_y,
                             "tiles": [Path(tile_path(Path(), r, c)).stem
                                       for r, c in zip(rows.tolist(), cols.tolist())]}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
