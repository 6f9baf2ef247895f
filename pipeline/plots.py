"""Static maps and plots (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_map(grid: gpd.GeoDataFrame, column: str, clusters: gpd.GeoDataFrame | None = None,
             title: str = "", units: str = "", ax: plt.Axes | None = None) -> plt.Figure:
    """The predicted outcome per tile, with a colour bar and the survey clusters on top.

    Args:
        grid: per-tile predictions with footprints (EPSG:4326).
        column: the column to colour by.
        clusters: survey clusters (points, EPSG:4326) drawn as black-edged dots.
        title: figure title; units: colour-bar label.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 7), dpi=120)
    else:
        fig = ax.figure
    values = grid[column].to_numpy(dtype=np.float64)
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    log_scale = low > 0 and high / low > 10
    norm = (matplotlib.colors.LogNorm if log_scale else matplotlib.colors.Normalize)(low, high)
    grid.plot(column=column, ax=ax, cmap="viridis", norm=norm, legend=True, edgecolor="face", linewidth=0.2,
              legend_kwds={"label": units or column, "shrink": 0.8},
              missing_kwds={"color": "lightgrey"})
    if clusters is not None and len(clusters):
        clusters.plot(ax=ax, markersize=9, facecolor="white", edgecolor="black", linewidth=0.6,
                      label=f"survey clusters (n={len(clusters)})")
        ax.legend(loc="lower left", fontsize=8)
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.set_title(title)
    ax.set_aspect(1 / np.cos(np.radians(float(np.nanmean(grid["lat"])))))
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, path: Path) -> None:
    fig.savefig(path)
    plt.close(fig)
