"""``report.html``: one self-contained page about a run (no scripts, no network).

Sections: the out-of-distribution share (and a prediction run's model card, see
:mod:`pipeline.outputs.report_prediction`), summary (data counts, rejected rows, stage timings),
a STAC run's acquisition (:mod:`pipeline.outputs.report_acquisition`), training (curves and confusion
matrix from ``train/``), evaluation (R² table from ``fit/metrics.json``, the plots ``fit``
wrote, or predicted-vs-observed scatters), the map, and the config. Images are PNGs inlined as
base64 data URIs, and the style sheet is inline, so the file opens anywhere, offline.
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.evaluation.metrics import gain_text
from pipeline.outputs.bundle import ExportBundle, ExportFiles, target_is_logged
from pipeline.outputs.report_figures import confusion_figure, figure_uri, file_uri, training_curves
from pipeline.outputs.tables import metrics_frame, rejected_summary, stage_frame
from pipeline.outputs.figures import plot_map, plot_scatter
from pipeline.outputs.report_acquisition import acquisition_section
from pipeline.outputs.report_prediction import OOD_STYLE, model_card_section, ood_banner

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2430;
background:#fff}
main{max-width:1100px;margin:0 auto;padding:24px 32px}
header{background:#1f3b57;color:#fff;padding:20px 32px}
header h1{margin:0 0 4px;font-size:24px} header p{margin:0;opacity:.85}
h2{border-bottom:2px solid #1f3b57;padding-bottom:4px;margin-top:36px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ccd3dc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef2f6}
figure{margin:10px 0} figcaption{color:#5b6675;font-size:12px}
img{max-width:100%;border:1px solid #e3e7ec}
pre{background:#f6f8fa;padding:12px;overflow:auto;font-size:12px;border:1px solid #e3e7ec}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:10px}
.fact{background:#eef2f6;padding:10px 12px;border-radius:6px}
.fact b{display:block;font-size:22px;color:#1f3b57}
.note{color:#5b6675}
"""


def _table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return '<p class="note">(none)</p>'
    return frame.to_html(index=False, border=0, float_format=lambda v: f"{v:.3f}", na_rep="–")


def _image(uri: str, alt: str) -> str:
    text = html.escape(alt)
    return f'<figure><img src="{uri}" alt="{text}"><figcaption>{text}</figcaption></figure>'


def _read_json(path: Path | None) -> dict:
    return json.loads(path.read_text()) if path is not None and path.exists() else {}


def summary_section(bundle: ExportBundle, manifest: dict) -> str:
    """Data counts, rejected rows and stage timings."""
    clusters = bundle.clusters
    usable = int(clusters["usable"].sum()) if "usable" in clusters else len(clusters)
    rejected = rejected_summary(bundle.files.rejected)
    facts = {"tiles": len(bundle.catalog), "survey clusters": len(clusters),
             "clusters used by fit": usable, "rejected rows": int(rejected["rows"].sum()),
             f"output cells ({bundle.spec.grid.kind})": len(bundle.cells),
             "tiles behind the cells": int(bundle.cells["n_tiles"].sum())}
    boxes = "".join(f'<div class="fact"><b>{v:,}</b>{html.escape(k)}</div>' for k, v in facts.items())
    return (f'<h2>Summary</h2><div class="facts">{boxes}</div>'
            f"<h3>Rejected rows (ingest/rejected.csv)</h3>{_table(rejected)}"
            f"<h3>Stages</h3>{_table(stage_frame(manifest))}")


def training_section(files: ExportFiles) -> str:
    """Training curves and confusion matrix of the nightlight classifier."""
    parts = ["<h2>Training: nightlight classes</h2>"]
    history = files.train_history
    if history is not None and history.stat().st_size and len(table := pd.read_csv(history)):
        parts.append(_image(figure_uri(training_curves(table)), "training curves"))
    metrics = _read_json(files.train_metrics)
    if metrics.get("confusion_matrix"):
        parts.append(_image(figure_uri(confusion_figure(metrics["confusion_matrix"])),
                            "confusion matrix"))
    facts = {k: metrics[k] for k in ("objective", "backbone", "weights", "n_train", "n_val",
                                     "val_accuracy", "val_balanced_accuracy", "val_r2",
                                     "val_spearman") if k in metrics}
    if facts:
        parts.append(_table(pd.DataFrame([facts])))
    if len(parts) == 1:
        parts.append('<p class="note">train/ has no history or metrics in this run.</p>')
    return "".join(parts)


def r2_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Out-of-fold R² by target, scheme and subset (rows) and predictor (columns)."""
    if frame.empty:
        return frame
    table = frame.pivot_table(index=["target", "scheme", "subset", "n"], columns="predictor",
                              values="r2", sort=False).reset_index()
    table.columns.name = None
    first = [c for c in ("model",) if c in table.columns]
    rest = [c for c in table.columns if c not in ("target", "scheme", "subset", "n", "model")]
    return table[["target", "scheme", "subset", "n", *first, *rest]]


def gain_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's R² gain over each baseline with its 95% paired bootstrap interval, as text,
    by target, scheme and subset (rows) and baseline (columns)."""
    if frame.empty or "r2_gain" not in frame.columns:
        return pd.DataFrame()
    rows = frame[frame["r2_gain"].notna()]
    low = rows.get("r2_gain_ci_low", pd.Series(np.nan, index=rows.index))
    high = rows.get("r2_gain_ci_high", pd.Series(np.nan, index=rows.index))
    text = [gain_text({"r2_gain": g, "r2_gain_ci": [] if pd.isna(lo) else [lo, hi]})
            for g, lo, hi in zip(rows["r2_gain"], low, high, strict=True)]
    table = rows.assign(gain=text).pivot(index=["target", "scheme", "subset", "n"],
                                         columns="predictor", values="gain")
    table.columns.name = None
    return table.reindex(columns=list(dict.fromkeys(rows["predictor"]))).reset_index()


INTERVAL_NAMES = {"naive_cv": "old: out-of-fold residual quantile around the refitted model",
                  "cv_plus": "CV+", "normalised": "CV+ normalised by distance to training",
                  "mondrian_urban": "CV+ within urban / rural"}


def interval_table(metrics: dict) -> pd.DataFrame:
    """Per target and interval method: nominal vs coverage on held-out blocks, mean width,
    and what it promises."""
    rows = []
    for target, entry in metrics.get("targets", {}).items():
        interval = entry.get("interval") or {}
        for method, m in (interval.get("methods") or {}).items():
            rows.append({"target": target, "method": INTERVAL_NAMES.get(method, method),
                         "on the map": "yes" if method == interval.get("map_method") else "",
                         "nominal": m.get("nominal", interval.get("coverage")),
                         "held-out coverage": m.get("held_out_coverage"),
                         "mean width": m.get("mean_width"),
                         "units": interval.get("units"), "promise": m.get("guarantee")})
    return pd.DataFrame(rows)


def weights_note(metrics: dict) -> str:
    """Which cluster weights the scores use, with the unweighted R² where they differ."""
    used = {entry.get("weights", "none") for entry in metrics.get("targets", {}).values()}
    if used <= {"none"}:
        return ('<p class="note">Cluster weights: none (every surveyed cluster counts alike; '
                "set <code>regression.weights</code> to score over the population the survey "
                "weights stand for).</p>")
    pairs = []
    for target, entry in metrics.get("targets", {}).items():
        for scheme, subsets in entry.get("schemes", {}).items():
            model = subsets.get("all", {}).get("model", {}) if isinstance(subsets, dict) else {}
            if "unweighted" in model:
                pairs.append(f"{html.escape(target)} {scheme}: weighted {model['r2']:.3f}, "
                             f"unweighted {model['unweighted']['r2']:.3f}")
    return (f'<p class="note">Cluster weights: {html.escape(", ".join(sorted(used)))} — the '
            "ridge fit and every score are weighted (R², RMSE, percentile subsets). Model R², "
            f"all clusters: {'; '.join(pairs)}.</p>")


def evaluation_section(bundle: ExportBundle) -> str:
    """The metrics table and the evaluation plots (``fit/*.png``, else scatters)."""
    files = bundle.files
    metrics = _read_json(files.fit.metrics)
    frame = metrics_frame(metrics)
    parts = ["<h2>Evaluation: cross-validated R²</h2>",
             '<p class="note">sklearn R² (1 − SSE/SST) of out-of-fold predictions; log units '
             "where the target is logged. <code>model</code> is the image model; the other "
             "columns are baselines on the same folds.</p>", weights_note(metrics),
             _table(r2_table(frame))]
    intervals = interval_table(metrics)
    if not intervals.empty:
        parts += ["<h3>Prediction intervals: what they promise, and how often they covered</h3>",
                  '<p class="note">Coverage measured on clusters of held-out spatial blocks, '
                  "each interval calibrated on the other blocks only, beside the nominal "
                  "coverage. The promises hold only for places like the survey's clusters; "
                  "the map's out-of-distribution flag marks the others.</p>",
                  _table(intervals)]
    gains = gain_table(frame)
    if not gains.empty:
        parts += ["<h3>The model's R² gain over each baseline</h3>",
                  '<p class="note">R² of the image model minus the baseline\'s on the same '
                  "clusters and folds, with the 95% interval of the difference when both are "
                  "scored on each bootstrap resample of clusters (paired). An interval that "
                  "contains 0 means this survey cannot tell the two apart.</p>", _table(gains)]
    plots = sorted(files.fit_dir.glob("*.png")) if files.fit_dir is not None else []
    parts.extend(_image(file_uri(p), f"fit/{p.name}") for p in plots)
    if not plots:
        parts.extend(_scatter_images(bundle))
    return "".join(parts)


def _scatter_images(bundle: ExportBundle) -> list[str]:
    path = bundle.files.fit.cv_predictions
    if path is None:
        return []
    table = pd.read_csv(path)
    images = []
    for (target, scheme), rows in table.groupby(["target", "scheme"], sort=False):
        label = f"log {target}" if target_is_logged(bundle.files.fit, bundle.spec, target) else target
        fig = plot_scatter(rows["observed"].to_numpy(np.float64), rows["predicted"].to_numpy(np.float64),
                           label, title=f"{scheme} CV:")
        images.append(_image(figure_uri(fig), f"{target} {scheme} predicted vs observed"))
    return images


def map_section(bundle: ExportBundle, map_png: Path | None) -> str:
    if map_png is not None and map_png.exists():
        uri = file_uri(map_png)
    else:
        uri = figure_uri(plot_map(bundle.cells, bundle.column, bundle.clusters, title=bundle.title,
                                  units=bundle.units, outline=bundle.outline,
                                  cluster_column=bundle.target))
    return f"<h2>Map</h2>{_image(uri, 'prediction map')}"


def render_report(bundle: ExportBundle, map_png: Path | None = None) -> str:
    """The report's HTML text."""
    manifest = _read_json(bundle.files.manifest)
    version = manifest.get("versions", {}).get("poverty-pipeline", "unknown")
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    config_text = bundle.files.config_text
    body = "".join([ood_banner(bundle.grid), model_card_section(bundle.files.model_card),
                    summary_section(bundle, manifest),
                    acquisition_section(bundle.files.acquisition,
                                        bundle.files.nightlights_acquisition),
                    training_section(bundle.files),
                    evaluation_section(bundle), map_section(bundle, map_png),
                    f"<h2>Config</h2><pre>{html.escape(config_text)}</pre>"])
    name = html.escape(bundle.spec.name)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>Run report: {name}</title><style>{STYLE}{OOD_STYLE}</style></head><body>"
            f"<header><h1>Run report: {name}</h1><p>{html.escape(str(bundle.run_dir))} · "
            f"poverty-pipeline {html.escape(version)} · made {made}</p></header>"
            f"<main>{body}</main></body></html>")


def write_report(bundle: ExportBundle, path: Path) -> Path:
    """Write ``report.html`` beside ``map.png`` (embedded when present); returns its path."""
    path.write_text(render_report(bundle, path.parent / "map.png"), encoding="utf-8")
    return path
