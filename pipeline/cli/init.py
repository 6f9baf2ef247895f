"""``poverty-pipeline init``: inspect a user's files and write a complete, commented config.

Everything is checked before anything is written: the paths exist and open, the survey has the
named columns, the tiles have 3+ bands. Unreadable tiles among the sampled ones are counted and
named (ingest rejects them), not fatal. With ``--stac URL --collection C`` instead of
``--tiles``, the catalog is inspected (the collection, its assets, the items over the survey's
extent and dates, their typical cloud cover) and the config reads imagery from it
(``data.tiles.source: stac``). The written text is parsed back with the config loader,
so the file that lands on disk always loads. Defaults are chosen from the data: scaling for
non-uint8 imagery, tile and window sizes from the ground resolution, log targets for all-positive
right-skewed outcomes (the name only breaks ties), spatial CV blocks from the survey's extent.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy.stats import skew

from pipeline.config.reference import commented_yaml
from pipeline.config.schema import parse_config
from pipeline.errors import ConfigError, InputDataError
from pipeline.tiles.dates import nightlight_year
from pipeline.geo.blocks import KM_PER_DEG_LAT, KM_PER_DEG_LON_EQUATOR
from pipeline.survey.tables import read_table
from pipeline.tiles.inspect import (
    RasterInfo,
    SurveyInfo,
    TilesInfo,
    describe_raster,
    describe_survey,
    value_range,
)
from pipeline.tiles.source import tile_source
from pipeline.tiles.stac_api import StacQuery
from pipeline.tiles.stac_collection import CollectionInfo, describe_collection

LOG_HINT = re.compile(r"consum|expend|income|spend", re.IGNORECASE)
LOG_SKEWNESS = 1.0
"""An all-positive outcome whose sample skewness (adjusted Fisher-Pearson, G1) exceeds this is
modelled in logs: consumption, income and expenditure are right-skewed, and a ridge on raw
values lets a few rich clusters set the fit."""
RAW_SKEWNESS = 0.5
"""At or below this skewness the outcome is modelled raw; between the two, the name decides."""
TARGET_TILE_M = 1000.0
MIN_WINDOWS = 100
REACH_KM = 5.0
"""``reach_km`` of a STAC config: imagery within 5 km of each cluster, as far as DHS displaces
rural clusters and as far as ``aggregate.radius_km`` reaches."""
CLOUD_STEPS = (10.0, 20.0, 30.0, 50.0, 80.0, 100.0)
MIN_SCENES = 4
"""``max_cloud_cover`` is the first of :data:`CLOUD_STEPS` leaving this many items."""
SHOWN = 3
"""Unreadable files named in the report before "and N more"."""


@dataclass(frozen=True)
class InitRequest:
    """What the user passed to ``init`` (paths as given, column names)."""

    out: Path
    tiles: Path | None
    nightlights: Path
    survey: Path
    id: str
    lat: str
    lon: str
    outcomes: tuple[str, ...]
    country: str | None = None
    year: str | None = None
    weight: str | None = None
    urban: str | None = None
    stac: str | None = None
    collection: str | None = None
    datetime: str | None = None


@dataclass(frozen=True)
class Findings:
    tiles: TilesInfo | CollectionInfo
    nightlights: RasterInfo
    nightlight_range: tuple[float, float]
    nightlight_year: int | None
    survey: SurveyInfo
    logs: dict[str, tuple[bool, str]] = field(default_factory=dict)


def inspect_inputs(req: InitRequest) -> Findings:
    """Open and check every input; raise before anything is written.

    Raises:
        InputDataError: a missing or unreadable file, too few bands, a missing column.
    """
    for flag, path in (("--nightlights", req.nightlights), ("--survey", req.survey)):
        if not path.is_file():
            raise InputDataError(f"{path}: file not found ({flag}).")
    if (req.tiles is None) == (req.stac is None) or (req.stac and not req.collection):
        raise InputDataError("give --tiles (local imagery) or --stac URL with --collection "
                             "(a STAC API), one of the two.")
    columns = [req.id, req.lat, req.lon, *req.outcomes,
               *[c for c in (req.country, req.year, req.weight, req.urban) if c]]
    survey = describe_survey(req.survey, columns, req.lat, req.lon, req.outcomes)
    tiles = local_tiles(req.tiles) if req.tiles is not None else catalog(req, survey)
    nl = describe_raster(req.nightlights)
    if nl.crs is None:
        raise InputDataError(f"{req.nightlights}: the nightlight raster has no CRS.")
    return Findings(tiles, nl, value_range(req.nightlights),
                    nightlight_year(req.nightlights, nl.tags, None), survey,
                    outcome_logs(req.survey, req.outcomes))


def local_tiles(path: Path) -> TilesInfo:
    """The tile source at ``path`` described from a sample; unreadable files are kept in the
    findings (ingest rejects them) unless no sampled file can be read.

    Raises:
        InputDataError: missing path, no readable file in the sample, fewer than 3 bands.
    """
    if not path.exists():
        raise InputDataError(f"{path}: not found (--tiles).")
    tiles = tile_source(path).describe()
    if not tiles.sampled:
        raise InputDataError(f"{path}: none of the {tiles.inspected} inspected tile file(s) "
                             f"can be read; {unreadable_line(tiles)}")
    if tiles.min_bands < 3:
        thin = next(r for r in tiles.sampled if r.count < 3)
        raise InputDataError(f"{thin.path} has {thin.count} band(s); the model needs 3 or more "
                             "(e.g. RGB). Point --tiles at a multiband source.")
    return tiles


def unreadable_line(tiles: TilesInfo) -> str:
    """The unreadable sampled files on one line: counted, a few named with why."""
    named = "; ".join(f"{p.name}: {why.rstrip('.')}" for p, why in tiles.unreadable[:SHOWN])
    more = len(tiles.unreadable) - SHOWN
    return f"{named}" + (f"; and {more} more" if more > 0 else "")


def catalog(req: InitRequest, survey: SurveyInfo) -> CollectionInfo:
    """The collection ``req.collection`` of the API at ``req.stac``, over the survey's extent
    (widened by :data:`REACH_KM`) and ``req.datetime`` (default: the survey's years)."""
    mid = math.radians(sum(survey.lat_range) / 2)
    dlat = REACH_KM / KM_PER_DEG_LAT
    dlon = REACH_KM / (KM_PER_DEG_LON_EQUATOR * max(math.cos(mid), 0.01))
    bbox = (survey.lon_range[0] - dlon, survey.lat_range[0] - dlat,
            survey.lon_range[1] + dlon, survey.lat_range[1] + dlat)
    query = StacQuery(req.stac or "", req.collection or "", req.datetime or survey_dates(req),
                      assets=(), retries=3, retry_delay_s=1.0, timeout_s=60.0)
    return describe_collection(query, bbox)


def survey_dates(req: InitRequest) -> str:
    """The survey's years as an RFC 3339 interval (``--year`` column), else an error."""
    years = (pd.to_numeric(read_table(req.survey, columns=[req.year])[req.year], errors="coerce")
             .dropna() if req.year else pd.Series(dtype=float))
    if years.empty:
        raise InputDataError("--datetime: give the acquisition interval, e.g. "
                             "2019-01-01/2019-12-31 (or --year, a survey column of years).")
    return f"{int(years.min())}-01-01/{int(years.max())}-12-31"


def cloud_limit(info: CollectionInfo) -> float:
    """The first of :data:`CLOUD_STEPS` leaving :data:`MIN_SCENES` items (or all of them)."""
    want = min(MIN_SCENES, info.n_items)
    return next(c for c in CLOUD_STEPS if info.items_at_most(c) >= want)


def _rel(path: Path, base: Path) -> str:
    """``path`` relative to the config's folder, or absolute when that climbs more than 2 levels."""
    rel = Path(os.path.relpath(path.absolute(), base.absolute()))
    return rel.as_posix() if rel.parts[:3].count("..") <= 2 else path.absolute().as_posix()


def tile_sizes(tiles: TilesInfo) -> tuple[int, int | None]:
    """(tile_size_px, window_px): ~1 km windows for a mosaic when 100+ fit, 64 px tiles at most."""
    first = tiles.sampled[0]
    if tiles.kind == "folder":
        return max(16, min(64, sorted(r.width for r in tiles.sampled)[len(tiles.sampled) // 2])), None
    window = round(TARGET_TILE_M / first.gsd_m) if first.gsd_m else 64
    if (first.width // max(window, 1)) * (first.height // max(window, 1)) < MIN_WINDOWS:
        window = int(math.sqrt(first.width * first.height / MIN_WINDOWS))
    window = max(16, min(1024, window))
    return max(16, min(64, window)), window


def spatial_block_km(survey: SurveyInfo) -> float:
    """About a quarter of the survey's shorter side, between 1 and 50 km."""
    mid = math.radians(sum(survey.lat_range) / 2)
    width = (survey.lon_range[1] - survey.lon_range[0]) * KM_PER_DEG_LON_EQUATOR * math.cos(mid)
    height = (survey.lat_range[1] - survey.lat_range[0]) * KM_PER_DEG_LAT
    return round(min(50.0, max(1.0, min(width, height) / 4)), 1)


def log_decision(name: str, values: np.ndarray) -> tuple[bool, str]:
    """Whether to model an outcome in logs, decided by its values, and why, in words.

    Logged when every value is positive and the sample skewness G1 exceeds
    :data:`LOG_SKEWNESS`; raw when a value is <= 0 or G1 is at most :data:`RAW_SKEWNESS`; in
    between, logged only when the name says consumption/expenditure/income/spending.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 3 or values.min() <= 0:
        low = f"{values.min():.4g}" if len(values) else "none"
        return False, f"raw: not all values are positive (min {low}), so log is undefined"
    g1 = float(skew(values, bias=False)) if np.ptp(values) > 0 else 0.0
    if g1 > LOG_SKEWNESS:
        return True, f"log: all positive and right-skewed (skewness G1 {g1:.2f} > {LOG_SKEWNESS:g})"
    if g1 <= RAW_SKEWNESS:
        return False, f"raw: skewness G1 {g1:.2f} <= {RAW_SKEWNESS:g}, not right-skewed"
    named = bool(LOG_HINT.search(name))
    return named, (f"{'log' if named else 'raw'}: skewness G1 {g1:.2f} is between "
                   f"{RAW_SKEWNESS:g} and {LOG_SKEWNESS:g}, so the name decided "
                   f"({'a' if named else 'not a'} consumption/expenditure/income word)")


def outcome_logs(path: Path, outcomes: tuple[str, ...]) -> dict[str, tuple[bool, str]]:
    """:func:`log_decision` for each outcome column of the survey at ``path``."""
    table = read_table(path, columns=list(outcomes))
    return {o: log_decision(o, pd.to_numeric(table[o], errors="coerce").to_numpy(np.float64))
            for o in outcomes}


def _name(out: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", out.stem) or "run"


def _stac_tiles(c: CollectionInfo) -> tuple[dict[str, Any], dict[str, str]]:
    """``data.tiles`` reading the collection ``c``, and the notes on what was found there."""
    limit = cloud_limit(c)
    median = c.median_cloud_cover
    stac = {"url": c.url, "collection": c.collection, "datetime": c.datetime,
            "assets": list(c.assets), "cloud_mask": c.cloud_mask, "mask_asset": c.mask_asset,
            "max_cloud_cover": limit, "cloud_filter": "server", "reach_km": REACH_KM,
            "resolution_m": c.resolution_m}
    window = max(16, round(TARGET_TILE_M / c.resolution_m))
    tiles = {"source": "stac", "bands": [1, 2, 3], "scale": [0.0, 0.3], "window_px": window,
             "tile_size_px": min(64, window), "min_valid_share": 0.5, "stac": stac}
    notes = {
        "source": f"found: {c.counted} item(s) of {c.collection} over the survey's extent",
        "window_px": f"{window * c.resolution_m:.0f} m tiles at {c.resolution_m:g} m per pixel",
        "stac.assets": f"offered: {', '.join(c.offered)}",
        "stac.cloud_mask": ("no SCL or qa_pixel asset found: clouds are not masked"
                            if c.cloud_mask == "none" else f"from the {c.mask_asset} asset"),
        "stac.max_cloud_cover": (f"{c.items_at_most(limit)} of {c.n_items} item(s) at or below; "
                                 + (f"median cloud cover {median:.0f}%" if median is not None
                                    else "the items state no eo:cloud_cover")),
    }
    return tiles, {f"data.tiles.{key}": note for key, note in notes.items()}


def _tiles(req: InitRequest, f: Findings, base: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """``data.tiles`` and the notes on what was found there."""
    t = f.tiles
    if isinstance(t, CollectionInfo):
        return _stac_tiles(t)
    assert req.tiles is not None  # a folder or mosaic was inspected
    size, window = tile_sizes(t)
    uint8 = t.dtypes == ["uint8"]
    tiles: dict[str, Any] = {"path": _rel(req.tiles, base), "bands": [1, 2, 3],
                             "scale": None if uint8 else "percentile"}
    notes = {
        "path": (f"found: a folder of {t.n_files} GeoTIFF file(s)" if t.kind == "folder"
                 else "found: one raster, read window by window")
                + (f"; {len(t.unreadable)} of {t.inspected} inspected unreadable (ingest "
                   "rejects these)" if t.unreadable else ""),
        "bands": f"the source has {t.min_bands} band(s) ({', '.join(t.dtypes)})",
        "scale": ("uint8: pixels kept as they are" if uint8
                  else f"{', '.join(t.dtypes)}: a 2-98 percentile stretch to 0..255"),
    }
    if window is not None:
        gsd = t.sampled[0].gsd_m or 0.0
        tiles |= {"window_px": window, "overlap_px": 0}
        notes["window_px"] = f"{window * gsd:.0f} m windows at {gsd:.2f} m per pixel"
    tiles |= {"tile_size_px": size, "min_valid_share": 0.5}
    return tiles, {f"data.tiles.{key}": note for key, note in notes.items()}


def render(req: InitRequest, f: Findings) -> str:
    """The config text: complete, commented, paths relative to the config's folder.

    Each key's comment is the first sentence of its description in :mod:`pipeline.config`
    (as in docs/configuration.md); a trailing comment says what was found in the files.
    """
    base = req.out.absolute().parent
    name = _name(req.out)
    s = f.survey
    tiles, notes = _tiles(req, f, base)
    optional = {key: col for key, col in (("country", req.country), ("year", req.year),
                                          ("weight", req.weight), ("urban", req.urban)) if col}
    survey = {"path": _rel(req.survey, base), "id": req.id, "lat": req.lat, "lon": req.lon,
              "outcomes": list(req.outcomes), **optional}
    targets = [{"column": o, "log": f.logs[o][0]} for o in s.outcomes]
    nl = f.nightlights
    notes |= {
        "data.nightlights.path": (f"{nl.crs}, {nl.dtype}, values {f.nightlight_range[0]:.3g} "
                                  f".. {f.nightlight_range[1]:.3g}"),
        "data.survey.path": f"{s.rows} rows",
        "model.backbone": "ImageNet weights, 2.1 MB",
        "regression.spatial_block_km": "about a quarter of the survey's extent",
        **{f"regression.targets[{i}]": f"values {r[0]:.4g} .. {r[1]:.4g}; {f.logs[o][1]}"
           for i, (o, r) in enumerate(s.outcomes.items())},
    }
    if not f.nightlight_year:
        notes["data.nightlights.year"] = "unknown: set it to check temporal alignment"
    tree = {
        "name": name, "run_dir": _rel(Path("runs") / name, base), "seed": 0,
        "data": {"tiles": tiles,
                 "nightlights": {"path": _rel(req.nightlights, base), "year": f.nightlight_year},
                 "survey": survey, "shard_size": 512},
        "labels": {"method": "gmm", "n_classes": 3},
        "model": {"backbone": "mobilenet_0.25", "weights": "imagenet",
                  "input_size_px": max(64, tiles["tile_size_px"])},
        "aggregate": {"radius_km": 5.0},
        "regression": {"targets": targets, "folds": 5, "spatial_block_km": spatial_block_km(s)},
    }
    header = ("# Written by `poverty-pipeline init` from the files below; edit freely.\n"
              "# Every path is relative to this file. Every key is described in "
              "docs/configuration.md.\n\n")
    return header + commented_yaml(tree, notes)


def write_config(req: InitRequest, force: bool = False) -> tuple[Path, Findings]:
    """Inspect the inputs, render the config, check it loads, then write it.

    Raises:
        InputDataError: bad input (nothing is written).
        ConfigError: ``req.out`` exists and ``force`` is False, or the rendered config is
            invalid (a bug: the text is shown).
    """
    if req.out.exists() and not force:
        raise ConfigError(f"{req.out} already exists; choose another name or pass --force.")
    findings = inspect_inputs(req)
    text = render(req, findings)
    parse_config(yaml.safe_load(text), base_dir=req.out.absolute().parent, origin=str(req.out))
    req.out.parent.mkdir(parents=True, exist_ok=True)
    req.out.write_text(text, encoding="utf-8")
    return req.out, findings


def report(f: Findings) -> str:
    """What ``init`` found, one line per input (and per unreadable-files and GDAL message)."""
    nl, s = f.nightlights, f.survey
    lights = (f"nightlights: {nl.crs}, {nl.dtype}, {nl.width}x{nl.height} px, values "
              f"{f.nightlight_range[0]:.3g} .. {f.nightlight_range[1]:.3g}, year "
              f"{f.nightlight_year or 'unknown'}")
    survey = (f"survey: {s.rows} rows, lon {s.lon_range[0]:.3f} .. {s.lon_range[1]:.3f}, lat "
              f"{s.lat_range[0]:.3f} .. {s.lat_range[1]:.3f}; "
              + ", ".join(f"{k} {lo:.4g} .. {hi:.4g}" for k, (lo, hi) in s.outcomes.items()))
    logs = [f"target {k}: {why}" for k, (_, why) in f.logs.items()]
    return "\n".join([*tiles_report(f.tiles), lights, survey, *logs])


def tiles_report(t: TilesInfo | CollectionInfo) -> list[str]:
    """The report's lines on the imagery: local tiles or a STAC collection."""
    if isinstance(t, CollectionInfo):
        median = t.median_cloud_cover
        limit = cloud_limit(t)
        return [f"stac: {t.url} collection {t.collection}: {t.counted} item(s) over the survey's extent in "
                f"{t.datetime}, median cloud cover "
                f"{'unknown' if median is None else f'{median:.0f}%'}; "
                f"{t.items_at_most(limit)} at or below max_cloud_cover {limit:g}",
                f"stac assets: {', '.join(t.assets)} (RGB{'+NIR' if len(t.assets) > 3 else ''}), "
                f"cloud mask {t.cloud_mask}"
                + (f" from {t.mask_asset}" if t.cloud_mask != "none" else "")
                + f", {t.resolution_m:g} m; offered: {', '.join(t.offered)}"]
    first = t.sampled[0]
    lines = [f"tiles: {t.kind}, {t.n_files} file(s) ({t.inspected} inspected), CRS "
             f"{t.crs_counts}, {t.min_bands}+ bands, {', '.join(t.dtypes)}, "
             f"{first.width}x{first.height} px" + (f", {first.gsd_m:.2f} m/px" if first.gsd_m
                                                    else "")]
    if t.unreadable:
        lines.append(f"unreadable tiles: {len(t.unreadable)} of the {t.inspected} inspected; "
                     f"ingest will reject these: {unreadable_line(t)}")
    for message, paths in t.messages.items():
        names = ", ".join(p.name for p in paths[:SHOWN]) + (
            f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else "")
        lines.append(f"{message} ({len(paths)} file(s): {names})")
    return lines
