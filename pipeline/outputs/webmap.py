"""``map.html``: the interactive map (folium / Leaflet).

Layers, each switchable in the layer control: the predicted cells (coloured on the same scale
as ``map.png``, a tooltip with the value, interval and tile count), the survey clusters (a
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
from matplotlib.colors import Normalize, to_hex

from pipeline.outputs.bundle import ExportBundle, metrics_entry
from pipeline.plots import CMAP, value_norm

PRECISION_DEG = 1e-6


def legend(norm: Normalize, caption: str, steps: int = 9) -> branca.colormap.LinearColormap:
    """A colour legend matching ``norm`` (log-spaced stops for a log scale)."""
    cmap = colormaps[CMAP]
    stops = np.linspace(0.0, 1.0, steps)
    index = [float(norm.inverse(t)) for t in stops]
    return branca.colormap.LinearColormap([to_hex(cmap(t)) for t in stops], index=index,
                                          vmin=index[0], vmax=index[-1], caption=caption)


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
    coverage = metrics_entry(bundle.run_dir, target).get("interval", {}).get("coverage")
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
    cells_layer(bundle, norm).add_to(fmap)
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
