"""read_polygons: polygons in EPSG:4326, and errors naming the file, the config key and the fix."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from pipeline.errors import InputDataError
from pipeline.geo.polygons import read_polygons


def test_polygons_are_reprojected_and_other_geometries_dropped(tmp_path) -> None:
    frame = gpd.GeoDataFrame({"id": ["a", "b", "p"]},
                             geometry=[box(500000, 9000000, 510000, 9010000),
                                       box(600000, 9000000, 610000, 9010000).buffer(0),
                                       Point(500000, 9000000)], crs="EPSG:32736")
    path = tmp_path / "d.parquet"
    frame.to_parquet(path)
    out = read_polygons(path, "aggregate.districts.path")
    assert out["id"].tolist() == ["a", "b"] and out.index.tolist() == [0, 1]
    assert out.crs.to_epsg() == 4326
    minx, miny, _, _ = out.geometry.iloc[0].bounds  # x = 500 km: UTM 36's meridian, 33 E
    assert minx == pytest.approx(33.0, abs=1e-9) and -9.1 < miny < -9.0


def test_errors_name_the_file_the_key_and_the_fix(tmp_path) -> None:
    with pytest.raises(InputDataError, match=r"nope\.gpkg: polygon file not found "
                                             r"\(export\.region\)\. Fix the path"):
        read_polygons(tmp_path / "nope.gpkg", "export.region")
    bad = tmp_path / "bad.gpkg"
    bad.write_text("not a geopackage")
    with pytest.raises(InputDataError, match=r"bad\.gpkg: cannot read the polygon file given as "
                                             r"export\.grid\.path .*use a GeoPackage"):
        read_polygons(bad, "export.grid.path")
    no_crs = tmp_path / "no_crs.parquet"
    gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)]).to_parquet(no_crs)
    with pytest.raises(InputDataError, match=r"no_crs\.parquet: the polygon file given as "
                                             r"export\.grid\.path has no CRS; re-export it"):
        read_polygons(no_crs, "export.grid.path")
    points = tmp_path / "points.gpkg"
    gpd.GeoDataFrame(geometry=[Point(0, 0)], crs="EPSG:4326").to_file(points)
    with pytest.raises(InputDataError, match=r"points\.gpkg: no polygons in the file given as "
                                             r"aggregate\.districts\.path"):
        read_polygons(points, "aggregate.districts.path")
