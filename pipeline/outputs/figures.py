"""Static maps and plots (matplotlib; Agg backend outside notebooks).

:func:`plot_map` draws the publication map (``export/map.png``): cells coloured by the
prediction with a colour bar in the outcome's units, a graticule with degree labels, a scale
bar, a north arrow, the region outline, the survey clusters on top, and a title.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import matplotlib

if not matplotlib.get_backend().startswith("module://"):  # keep a notebook's inline backend
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from pipeline.geo.blocks import KM_PER_DEG_LON_EQUATOR  # noqa: E402

CMAP = "viridis"


def value_norm(values: np.ndarray) -> Normalize:
    """Colour scale for a prediction: logarithmic when positive and spanning over 10x."""
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if high <= low:
        high = low + 1.0
    return (LogNorm if low > 0 and high / low > 10 else Normalize)(low, high)


def nice_length_km(span_km: float) -> float:
    """A round scale-bar length (1, 2 or 5 x 10^k km) near a fifth of the map's width."""
    target = max(span_km / 5.0, 1e-3)
    base = 10 ** np.floor(np.log10(target))
    return float(max((m * base for m in (1, 2, 5) if m * base <= target), default=base))


def add_scale_bar(ax: plt.Axes, lat: float) -> float:
    """Draw a black-and-white scale bar in the lower right of a lon/lat map; returns its km."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    km_per_deg_lon = KM_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat))
    length_km = nice_length_km((x1 - x0) * km_per_deg_lon)
    width_deg = length_km / km_per_deg_lon
    left, bottom, height = x1 - (x1 - x0) * 0.05 - width_deg, y0 + (y1 - y0) * 0.05, (y1 - y0) * 0.012
    for i, colour in enumerate(("black", "white")):
        ax.add_patch(plt.Rectangle((left + i * width_deg / 2, bottom), width_deg / 2, height,
                                   facecolor=colour, edgecolor="black", linewidth=0.6, zorder=6))
    label = f"{length_km:g} km" if length_km >= 1 else f"{length_km * 1000:g} m"
    ax.text(left + width_deg / 2, bottom + height * 1.8, label, ha="center", va="bottom",
            fontsize=8, zorder=6, bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none"})
    return length_km


def add_north_arrow(ax: plt.Axes) -> None:
    ax.annotate("N", xy=(0.95, 0.93), xytext=(0.95, 0.83), xycoords="axes fraction",
                ha="center", va="center", fontsize=10, fontweight="bold", zorder=6,
                arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.2})


def _degrees(axis: str) -> FuncFormatter:
    hemispheres = ("E", "W") if axis == "x" else ("N", "S")
    return FuncFormatter(lambda v, _: f"{abs(v):.2f}°{hemispheres[0] if v >= 0 else hemispheres[1]}")


def plot_map(cells: gpd.GeoDataFrame, column: str, clusters: gpd.GeoDataFrame | None = None,
             title: str = "", units: str = "", ax: plt.Axes | None = None,
             outline: gpd.GeoSeries | None = None, cluster_column: str | None = None) -> plt.Figure:
    """The predicted outcome per cell, ready to publish.

    Args:
        cells: predictions with footprints (EPSG:4326), one row per cell or tile.
        column: the column to colour by.
        clusters: survey clusters (points, EPSG:4326) drawn on top; filled with their observed
            ``cluster_column`` value on the same colour scale when given, white otherwise.
        title: figure title (run name and date); units: colour-bar label.
        ax: draw into this axes (a new figure otherwise).
        outline: the region's outline (polygons, EPSG:4326), drawn as a black line.

    Returns:
        The figure.
    """
    fig, ax = plt.subplots(figsize=(8, 7), dpi=150) if ax is None else (ax.figure, ax)
    cells = cells.to_crs("EPSG:4326")
    values = cells[column].to_numpy(dtype=np.float64)
    norm = value_norm(values)
    cells.plot(column=column, ax=ax, cmap=CMAP, norm=norm, edgecolor="face", linewidth=0.2,
               missing_kwds={"color": "lightgrey", "label": "no prediction"})
    add_colour_bar(fig, ax, norm, units or column)
    if outline is not None:
        outline.to_crs("EPSG:4326").boundary.plot(ax=ax, color="black", linewidth=1.0, zorder=4,
                                                 label="region")
    if clusters is not None and len(clusters):
        _plot_clusters(ax, clusters.to_crs("EPSG:4326"), cluster_column, norm)
    lat = float(np.nanmean(cells.geometry.representative_point().y))
    style_map_axes(ax, lat, title)
    fig.tight_layout()
    return fig


def add_colour_bar(fig: plt.Figure, ax: plt.Axes, norm: Normalize, label: str) -> None:
    """A colour bar for ``norm`` beside ``ax``; plain numbers (not powers) on a log scale."""
    colourbar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=CMAP), ax=ax, shrink=0.75,
                             pad=0.02)
    log_scale = isinstance(norm, LogNorm)
    colourbar.set_label(label + (" (log scale)" if log_scale else ""))
    if log_scale:
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        colourbar.ax.yaxis.set_major_formatter(plain)
        colourbar.ax.yaxis.set_minor_formatter(plain)
        colourbar.ax.tick_params(which="both", labelsize=8)


def style_map_axes(ax: plt.Axes, lat: float, title: str) -> None:
    """Graticule with degree labels, aspect for ``lat``, scale bar, north arrow, legend, title."""
    ax.set_aspect(1 / np.cos(np.radians(lat)))
    ax.xaxis.set_major_formatter(_degrees("x"))
    ax.yaxis.set_major_formatter(_degrees("y"))
    ax.tick_params(labelsize=8)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.grid(True, color="grey", linestyle=":", linewidth=0.5, zorder=0)
    ax.set_title(title, fontsize=11)
    add_scale_bar(ax, lat)
    add_north_arrow(ax)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=2, fontsize=8,
                  frameon=False)


def _plot_clusters(ax: plt.Axes, clusters: gpd.GeoDataFrame, column: str | None,
                   norm: Normalize) -> None:
    label = f"survey clusters (n={len(clusters)})"
    if column is not None and column in clusters.columns:
        colours = plt.get_cmap(CMAP)(norm(clusters[column].to_numpy(dtype=np.float64)))
        label += ", filled with the observed value"
    else:
        colours = "white"
    ax.scatter(clusters.geometry.x, clusters.geometry.y, s=16, c=colours, edgecolors="black",
               linewidths=0.7, zorder=5, label=label)


def plot_scatter(observed: np.ndarray, predicted: np.ndarray, label: str, title: str = "",
                 ax: plt.Axes | None = None) -> plt.Figure:
    """Predicted against observed values with the identity line and R² (1 - SSE/SST).

    Args:
        observed, predicted: (n,) values in the same units (NaN pairs are dropped).
        label: what the values are (axis labels); title: panel title (R² and n are appended).
    """
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=120) if ax is None else (ax.figure, ax)
    ok = np.isfinite(observed) & np.isfinite(predicted)
    y, p = np.asarray(observed)[ok], np.asarray(predicted)[ok]
    ax.scatter(y, p, s=10, alpha=0.7, edgecolor="none")
    if y.size:
        low, high = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
        ax.plot([low, high], [low, high], color="black", linewidth=0.8, label="identity")
        r2 = 1 - np.sum((y - p) ** 2) / max(np.sum((y - y.mean()) ** 2), 1e-12)
        ax.set_title(f"{title} R² {r2:.3f} (n={y.size})".strip(), fontsize=10)
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlabel(f"observed {label}")
    ax.set_ylabel(f"predicted {label}")
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, path: Path) -> None:
    """Write a figure (format from the suffix) and close it."""
    fig.savefig(path)
    plt.close(fig)
