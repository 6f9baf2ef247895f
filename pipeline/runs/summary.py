"""The short text printed at the end of a run: what ran, the r² figures, where the map is."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from pipeline.engine.rundir import RunDir
from pipeline.engine.runner import StageOutcome
from pipeline.evaluation.metrics import gain_text
from pipeline.outputs.report_prediction import ood_shares


BASELINE_ABBREVIATIONS = {"nightlights": "NL", "nightlights_knn": "NL-kNN",
                          "random_features": "random", "imagenet": "ImageNet",
                          "region_mean": "region"}


def metric_lines(metrics: dict) -> list[str]:
    """Per target, scheme and subset: model r² and each baseline's, briefly; then the model's
    gain over each baseline with its 95% paired bootstrap interval."""
    lines = []
    for target, entry in metrics.get("targets", {}).items():
        label = f"log {target}" if entry.get("log") else target
        for scheme, subsets in entry["schemes"].items():
            if "skipped" in subsets:
                lines.append(f"  {label:<28} {scheme:<8} skipped: {subsets['skipped']}")
                continue
            for subset, result in subsets.items():
                if subset not in ("all", "below_p50") or "model" not in result:
                    continue
                others = "  ".join(f"{short} {result[name]['r2']:6.3f}"
                                   for name, short in BASELINE_ABBREVIATIONS.items()
                                   if name in result)
                lines.append(f"  {label:<28} {scheme:<8} {subset:<10} n={result['n']:<5} "
                             f"r2 model {result['model']['r2']:6.3f}   {others}")
                gains = result.get("model_vs", {})
                if gains:
                    lines.append(f"  {'':<48}model gain: " + "  ".join(
                        f"{short} {gain_text(gains[name])}"
                        for name, short in BASELINE_ABBREVIATIONS.items() if name in gains))
    return lines


def change_lines(metrics: dict, reference: dict) -> list[str]:
    """Per cell of :func:`metric_lines`' table (target, scheme, subset, predictor), the change of
    r² from ``reference`` to ``metrics``; the largest |change| per line, and over the table."""
    lines, largest = [], (0.0, "")
    for target, entry in metrics.get("targets", {}).items():
        label = f"log {target}" if entry.get("log") else target
        for scheme, subsets in entry["schemes"].items():
            for subset, result in subsets.items():
                if subset not in ("all", "below_p50") or "model" not in result:
                    continue
                other = reference.get("targets", {}).get(target, {}).get("schemes", {}) \
                    .get(scheme, {}).get(subset, {})
                names = {"model": "model", **BASELINE_ABBREVIATIONS}
                deltas = {short: result[name]["r2"] - other[name]["r2"]
                          for name, short in names.items() if name in result and name in other}
                if not deltas:
                    continue
                worst = max(deltas, key=lambda k: abs(deltas[k]))
                if abs(deltas[worst]) > largest[0] or not largest[1]:  # the first of ties
                    largest = (abs(deltas[worst]), f"{label} {scheme} {subset} {worst}")
                lines.append(f"  {label:<28} {scheme:<8} {subset:<10} max |Δr²| "
                             f"{abs(deltas[worst]):.4f} ({worst})   " + "  ".join(
                                 f"{short} {d:+.4f}" for short, d in deltas.items()))
    if lines:
        lines.append(f"  largest |Δr²| over the table: {largest[0]:.4f} ({largest[1]})")
    return lines


def ood_lines(grid_file: Path) -> list[str]:
    """The share of the map out of distribution, per target (a warning line when any is)."""
    names = pq.read_schema(grid_file).names
    columns = [c for c in names if c.startswith("ood_")]
    if not columns:
        return []
    shares = ood_shares(pd.read_parquet(grid_file, columns=columns))
    text = ", ".join(f"{target} {100 * share:.1f}%" for target, share in shares.items())
    if max(shares.values()) == 0:
        return [f"out of distribution: none of the map ({text})"]
    return [f"WARNING out of distribution: {text} of the map's tiles are unlike every training "
            "cluster; their predictions carry no guarantee (ood_<target> in the outputs)"]


def summarize(run_dir: Path, outcomes: Sequence[StageOutcome]) -> str:
    ran = [o.name for o in outcomes if o.status == "done"]
    skipped = [o.name for o in outcomes if o.status == "skipped"]
    lines = [f"run directory: {run_dir}",
             f"stages run: {', '.join(ran) or 'none'}; skipped (unchanged): {', '.join(skipped) or 'none'}"]
    run = RunDir(run_dir)
    metrics_path = run.artifact("fit", "metrics.json", required=False)
    if metrics_path is not None and "fit" in {o.name for o in outcomes}:
        lines.append("cross-validated r² (sklearn R²), image model vs baselines (NL: nightlights "
                     "ridge, NL-kNN, random conv. features, untrained ImageNet, region mean):")
        lines.extend(metric_lines(json.loads(metrics_path.read_text())))
    grid = run.artifact("predict", "grid.parquet", required=False)
    if grid is not None and "predict" in {o.name for o in outcomes}:
        lines.extend(ood_lines(grid))
    if run.stage_dir("export").exists() and "export" in {o.name for o in outcomes}:
        def export(name: str) -> Path:
            return run.output("export", name)

        lines.append(f"map: {export('map.png')}")
        lines.append(f"GeoTIFF: {export('predictions.tif')}   GeoPackage: "
                     f"{export('predictions.gpkg')}")
        lines.append(f"report: {export('report.html')}   interactive map: {export('map.html')}")
    return "\n".join(lines)
