"""``map.html``: the interactive map (folium / Leaflet).

Layers, each switchable in the layer control: the predicted cells (coloured on the same scale
as ``map.png``, a tooltip with the value, interval and tile count; above
:data:`MAX_VECTOR_CELLS` cells one image instead, without tooltips, so that the page stays
small), the survey clusters (a
popup with the observed value, the out-of-fold prediction and the map's value and interval
there) and the region outline; a colour legend with the units. Leaflet and the background
tiles are fetched from the web when the page is opened (``report.html`` needs no network).
"""

from __future__ import annotations

import html
from pathlib import Path

import branca.colormap
import folium
import geopandas as gpd
import numpy as np
from matplotlib import colormaps
from folium.raster_layers import ImageOverlay
from matplotlib.colors import LogNorm, Normalize, to_hex
from matplotlib.ticker import LogLocator, MaxNLocator
from rasterio.features import rasterize
from rasterio.transform import from_bounds

from pipeline.outputs.bundle import ExportBundle, metrics_entry
from pipeline.outputs.figures import CMAP, value_norm

PRECISION_DEG = 1e-6
MAX_VECTOR_CELLS = 20_000  # more cells: one image layer instead of polygons with tooltips


def legend(norm: Normalize, caption: str, steps: int = 9) -> branca.colormap.LinearColormap:
    """A colour legend matching ``norm`` (log-spaced stops for a log scale)."""
    cmap = colormaps[CMAP]
    stops = np.linspace(0.0, 1.0, steps)
    index = [float(norm.inverse(t)) for t in stops]
    locator = LogLocator(subs=(1.0, 2.0, 5.0)) if isinstance(norm, LogNorm) else MaxNLocator(5)
    decimals = _legend_decimals(index[0], index[-1])
    values = {round(float(t), decimals) for t in locator.tick_values(index[0], index[-1])
              if index[0] <= t <= index[-1]}
    ticks = sorted(values - {0.0} if isinstance(norm, LogNorm) else values)
    return branca.colormap.LinearColormap([to_hex(cmap(t)) for t in stops], index=index,
                                          vmin=index[0], vmax=index[-1], caption=caption,
                                          tick_labels=ticks or None)


def _legend_decimals(low: float, high: float) -> int:
    """Decimals the legend's d3 (v3) axis prints for a linear scale over [low, high]."""
    span = max(high - low, 1e-12)
    step = 10 ** np.floor(np.log10(span / 10))
    err = 10 / span * step
    step *= 10 if err <= 0.15 else 5 if err <= 0.35 else 2 if err <= 0.75 else 1
    return max(0, int(-np.floor(np.log10(step) + 0.01)))


def _fmt(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.4g}"


def cells_layer(bundle: ExportBundle, norm: Normalize) -> folium.GeoJson:
    """The predicted cells, filled by value, with a tooltip."""
    target, cmap = bundle.target, colormaps[CMAP]
    columns = [c for c in (f"pred_{target}", f"lower_{target}", f"upper_{target}")
               if c in bundle.cells.columns]
    frame = bundle.cells[["cell_id", "n_tiles", *columns, "geometry"]].copy()
    values = frame[bundle.column].to_numpy(dtype=np.float64)
    frame["fill"] = [to_hex(cmap(norm(v))) if np.isfinite(v) else "#d3d3d3" for v in values]
    for column in columns:
        frame[column] = [_fmt(v) for v in frame[column].to_numpy(dtype=np.float64)]
    frame["geometry"] = frame.geometry.set_precision(PRECISION_DEG)
    return folium.GeoJson(
        frame.to_json(drop_id=True), name=f"predicted {target}",
        style_function=lambda f: {"fillColor": f["properties"]["fill"], "fillOpacity": 0.75,
                                  "color": f["properties"]["fill"], "weight": 0.3},
        tooltip=folium.GeoJsonTooltip(fields=["cell_id", *columns, "n_tiles"],
                                      aliases=["cell", *columns, "tiles"]))


def raster_layer(bundle: ExportBundle, norm: Normalize, max_side_px: int = 2048) -> ImageOverlay:
    """The cells as one coloured, semi-transparent image (for maps of many cells)."""
    cells = bundle.cells
    west, south, east, north = cells.total_bounds
    width = int(min(max_side_px, max(256, 2 * np.sqrt(len(cells)))))
    height = max(1, int(round(width * (north - south) / max(east - west, 1e-9))))
    values = cells[bundle.column].to_numpy(dtype=np.float64)
    ok = np.isfinite(values)
    image = rasterize(list(zip(cells.geometry[ok], values[ok])), out_shape=(height, width),
                      transform=from_bounds(west, south, east, north, width, height),
                      fill=np.nan, dtype="float32")
    rgba = colormaps[CMAP](norm(np.nan_to_num(image, nan=float(norm.vmin))), bytes=True)
    rgba[..., 3] = np.where(np.isfinite(image), 210, 0)
    return ImageOverlay(rgba, bounds=[[south, west], [north, east]], mercator_project=True,
                        name=f"predicted {bundle.target}")


def cluster_popup(row: gpd.GeoSeries, target: str, coverage: float | None) -> str:
    """HTML of one cluster's popup: observed, out-of-fold predicted, the map's value there."""
    interval = ""
    if f"map_lower_{target}" in row.index:
        share = f"{coverage:.0%} " if coverage else ""
        interval = (f" ({share}interval {_fmt(row[f'map_lower_{target}'])} – "
                    f"{_fmt(row[f'map_upper_{target}'])})")
    lines = [f"<b>cluster {html.escape(str(row['cluster_id']))}</b>",
             f"observed {html.escape(target)}: {_fmt(row.get(target, np.nan))}",
             f"predicted (out of fold): {_fmt(row[f'cv_predicted_{target}'])}",
             f"map here: {_fmt(row.get(f'map_pred_{target}', np.nan))}{interval}"]
    return "<br>".join(lines)


def clusters_layer(bundle: ExportBundle, norm: Normalize) -> folium.FeatureGroup:
    """One circle marker per survey cluster, filled with its observed value."""
    target, cmap = bundle.target, colormaps[CMAP]
    coverage = metrics_entry(bundle.files.fit, target).get("interval", {}).get("coverage")
    group = folium.FeatureGroup(name=f"survey clusters (n={len(bundle.clusters)})")
    for _, row in bundle.clusters.iterrows():
        observed = float(row.get(target, np.nan))
        fill = to_hex(cmap(norm(observed))) if np.isfinite(observed) else "#ffffff"
        folium.CircleMarker(
            location=[row.geometry.y, row.geometry.x], radius=5, color="black", weight=1,
            fill=True, fill_color=fill, fill_opacity=0.9,
            popup=folium.Popup(cluster_popup(row, target, coverage), max_width=320),
        ).add_to(group)
    return group


def web_map(bundle: ExportBundle) -> folium.Map:
    """The interactive map of ``bundle.target`` (see the module docstring)."""
    norm = value_norm(bundle.cells[bundle.column].to_numpy(dtype=np.float64))
    west, south, east, north = bundle.cells.total_bounds
    fmap = folium.Map(location=[(south + north) / 2, (west + east) / 2], tiles="OpenStreetMap",
                      control_scale=True)
    many = len(bundle.cells) > MAX_VECTOR_CELLS
    (raster_layer(bundle, norm) if many else cells_layer(bundle, norm)).add_to(fmap)
    folium.GeoJson(bundle.outline.to_crs("EPSG:4326").boundary.to_json(), name="region outline",
                   style_function=lambda _: {"color": "black", "weight": 1.5}).add_to(fmap)
    clusters_layer(bundle, norm).add_to(fmap)
    legend(norm, bundle.units).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    title = (f'<div style="position:fixed;top:8px;left:60px;z-index:9999;background:white;'
             f'padding:4px 8px;font:14px sans-serif;border:1px solid #999">'
             f'{html.escape(bundle.title)}</div>')
    fmap.get_root().html.add_child(folium.Element(title))
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


def write_web_map(bundle: ExportBundle, path: Path) -> Path:
    """Write ``map.html``; returns its path."""
    web_map(bundle).save(str(path))
    return path
