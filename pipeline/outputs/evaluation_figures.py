"""Evaluation plots (matplotlib, Agg): predicted vs observed, r² by poverty percentile, nightlights.

Written into ``fit/`` as ``<target>_predicted_vs_observed.png``, ``<target>_r2_by_percentile.png``
and ``<target>_nightlights.png``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.outputs.figures import plt, save_figure

SUBSET = re.compile(r"^below_p([0-9.]+)$")


def predicted_vs_observed(predictions: pd.DataFrame, label: str) -> plt.Figure:
    """One panel per CV scheme: out-of-fold prediction against observation, identity line."""
    schemes = list(dict.fromkeys(predictions["scheme"]))
    fig, axes = plt.subplots(1, max(len(schemes), 1), figsize=(4.2 * max(len(schemes), 1), 4.2),
                             dpi=110, squeeze=False)
    for ax, scheme in zip(axes[0], schemes):
        rows = predictions[predictions["scheme"] == scheme].dropna(subset=["predicted"])
        y, p = rows["observed"].to_numpy(), rows["predicted"].to_numpy()
        ax.scatter(y, p, s=8, alpha=0.6, edgecolor="none")
        low, high = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
        ax.plot([low, high], [low, high], color="black", linewidth=0.8, label="identity")
        r2 = 1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2)
        ax.set_title(f"{scheme} CV: R² {r2:.3f} (n={len(y)})")
        ax.set_xlabel(f"observed {label}")
        ax.set_ylabel(f"predicted {label}")
        ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def r2_curves(schemes: dict[str, Any]) -> dict[str, dict[str, tuple[list[float], list[float]]]]:
    """Per scheme and predictor: (percentiles, r²) with 100 = all clusters, sorted."""
    out: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for scheme, subsets in schemes.items():
        points: dict[str, list[tuple[float, float]]] = {}
        for subset, entry in subsets.items():
            match = SUBSET.match(subset)
            pct = 100.0 if subset == "all" else float(match.group(1)) if match else None
            if pct is None or not isinstance(entry, dict) or "model" not in entry:
                continue
            for name, value in entry.items():
                if isinstance(value, dict) and "r2" in value:
                    points.setdefault(name, []).append((pct, value["r2"]))
        out[scheme] = {name: tuple(map(list, zip(*sorted(pts)))) for name, pts in points.items()}
    return out


def r2_by_percentile(schemes: dict[str, Any], label: str) -> plt.Figure:
    """Jean et al. Fig. 4: R² within the clusters below each percentile, model vs baselines."""
    curves = {s: c for s, c in r2_curves(schemes).items() if c}
    fig, axes = plt.subplots(1, max(len(curves), 1), figsize=(5 * max(len(curves), 1), 4.2),
                             dpi=110, squeeze=False)
    for ax, (scheme, lines) in zip(axes[0], curves.items()):
        for name, (pct, r2) in lines.items():
            ax.plot(pct, r2, marker="o", markersize=3, linewidth=2.2 if name == "model" else 1.2,
                    label=name)
        ax.axhline(0, color="grey", linewidth=0.6)
        ax.set_title(f"{scheme} CV")
        ax.set_xlabel(f"clusters at or below this percentile of {label}")
        ax.set_ylabel("R² (out of fold)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def nightlights_scatter(nl_mean: np.ndarray, y: np.ndarray, label: str) -> plt.Figure:
    """Jean et al. Fig. 1 style: mean nightlight radiance around each cluster vs the outcome."""
    fig, ax = plt.subplots(figsize=(5, 4.2), dpi=110)
    ax.scatter(np.clip(nl_mean, 1e-3, None), y, s=8, alpha=0.6, edgecolor="none")
    ax.set_xscale("log")
    ax.set_xlabel("mean nightlight radiance around the cluster (log scale)")
    ax.set_ylabel(label)
    dark = nl_mean <= np.nanpercentile(nl_mean, 10)
    ax.set_title(f"{int(dark.sum())} darkest clusters span {label} "
                 f"{np.nanmin(y[dark]):.2f}…{np.nanmax(y[dark]):.2f}", fontsize=9)
    fig.tight_layout()
    return fig


def write_plots(out: Path, target: str, label: str, schemes: dict[str, Any],
                predictions: pd.DataFrame, nl_mean: np.ndarray | None,
                y: np.ndarray) -> list[Path]:
    """Write the evaluation plots of one target into ``out``; returns their paths."""
    paths = []
    figures = [("r2_by_percentile", r2_by_percentile(schemes, label))]
    if len(predictions):
        figures.append(("predicted_vs_observed", predicted_vs_observed(predictions, label)))
    if nl_mean is not None and np.isfinite(nl_mean).any():
        figures.append(("nightlights", nightlights_scatter(nl_mean, y, label)))
    for name, fig in figures:
        path = out / f"{target}_{name}.png"
        save_figure(fig, path)
        paths.append(path)
    return paths
