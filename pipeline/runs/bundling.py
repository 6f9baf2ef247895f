"""Pack a finished run into a model bundle (``poverty-pipeline bundle RUN_DIR OUT``).

This module knows where a run keeps what a bundle holds (through
:class:`~pipeline.engine.rundir.RunDir`) and what its config says; the bundle itself is written
by :func:`pipeline.bundles.pack.pack_bundle` from plain paths and facts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline.bundles.pack import BundleSources, pack_bundle
from pipeline.bundles.tiles import cached_resolution_m
from pipeline.config.schema import Config, load_config
from pipeline.engine.manifest import DONE, SKIPPED, Manifest, package_version, versions
from pipeline.engine.rundir import RunDir
from pipeline.errors import InputDataError, MissingArtifactError

NEEDED = ("ingest", "train", "aggregate", "fit")


def bundle_run(run_dir: Path, out: Path) -> Path:
    """Write the bundle of the finished training run ``run_dir`` to the new folder ``out``.

    Raises:
        MissingArtifactError: not a run directory, or a stage it needs has not completed.
        InputDataError: a run a bundle cannot hold (a prediction run, frozen features,
            population weights), or ``out`` exists.
    """
    run = RunDir(run_dir)
    if not run.is_run():
        raise MissingArtifactError(f"{run_dir}: not a run directory (no manifest.json).")
    config = load_config(run.config_file, env={})
    check_bundleable(config, run_dir)
    manifest = Manifest.load(run.path)
    unfinished = [s for s in NEEDED if manifest.entry(s).get("status") not in (DONE, SKIPPED)]
    if unfinished:
        raise MissingArtifactError(
            f"{run_dir}: stage(s) {', '.join(unfinished)} have not completed; finish the run "
            f"(`poverty-pipeline run CONFIG`) before bundling it.")
    artifact = cast(Any, run.artifact)
    sources = BundleSources(artifact("train", "model.keras"), artifact("fit", "model.json"),
                            artifact("ingest", "scaling.json"), run.config_file,
                            artifact("fit", "metrics.json"))
    facts = bundle_facts(config, run, manifest)
    return pack_bundle(sources, facts, out, package_version())


def check_bundleable(config: Config, run_dir: Path) -> None:
    """InputDataError for a run whose model a bundle cannot carry to new tiles."""
    if config.bundle is not None:
        raise InputDataError(f"{run_dir}: a prediction run (it used the bundle {config.bundle}); "
                             "bundle the training run instead.")
    if config.features.mode != "finetuned":
        raise InputDataError(f"{run_dir}: features.mode is {config.features.mode!r}; a bundle "
                             "carries a fine-tuned network (features.mode: finetuned).")
    if config.aggregate.weight == "population":
        raise InputDataError(f"{run_dir}: aggregate.weight is 'population'; a bundle cannot "
                             "carry a population raster to new regions yet. Use 'none' or "
                             "'valid_share'.")


def bundle_facts(config: Config, run: RunDir, manifest: Manifest) -> dict[str, Any]:
    """``bundle.json``: what prediction needs and where the model comes from."""
    catalog = gpd.read_parquet(cast(Path, run.artifact("ingest", "tiles.parquet")))
    clusters = pd.read_parquet(cast(Path, run.artifact("aggregate", "clusters.parquet")))
    tiles, survey, regression = config.data.tiles, config.data.survey, config.regression
    if survey is None or regression is None:  # unreachable: check_bundleable refused it
        raise InputDataError(f"{run.path}: not a training run.")
    side = np.median(catalog["gsd_m"].to_numpy(float) * catalog["width_px"].to_numpy(float))
    years = sorted({int(y) for y in catalog["year"].dropna()}) if "year" in catalog else []
    survey_years = (sorted({int(y) for y in clusters["year"].dropna()})
                    if "year" in clusters else [])
    radius = config.predict.radius_km
    around = ({"radius_km": radius, "box_km": None} if radius
              else {"radius_km": config.aggregate.radius_km, "box_km": config.aggregate.box_km})
    usable = int(clusters["usable"].sum()) if "usable" in clusters else len(clusters)
    return {
        "training": {
            "name": config.name, "run_dir": str(run.path.absolute()),
            "finished": manifest.run.get("finished"),
            "fingerprints": {name: manifest.entry(name).get("fingerprint") for name in NEEDED},
            "extent_wgs84": [round(float(v), 6) for v in catalog.total_bounds],
            "imagery_years": years, "survey": str(survey.path), "survey_years": survey_years,
            "clusters": usable, "seed": config.seed,
        },
        "tiles": {"bands": list(tiles.bands), "tile_size_px": tiles.tile_size_px,
                  "resolution_m": round(cached_resolution_m(float(side), 1.0,
                                                            tiles.tile_size_px), 6),
                  "scaling": str(tiles.scale) if tiles.scale is not None else "none"},
        "features": {"mode": config.features.mode, "backbone": config.model.backbone,
                     "input_size_px": config.model.input_size_px, "neighbourhood": around,
                     "weight": config.aggregate.weight},
        "targets": [{"column": t.column, "log": t.log} for t in regression.targets],
        "versions": versions(),
    }
