"""The map region as polygons: a boundary file (local or by URL), or some of its features, gets
every grid tile it meets, not its bounding box."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Polygon, box

from pipeline.config.schema import TilesConfig
from pipeline.config.stac import RegionConfig, StacConfig
from pipeline.errors import InputDataError
from pipeline.geo.polygons import read_region
from pipeline.stages.ingest import stac_request, tile_files
from pipeline.tiles.area import area_tiles

CRS = "EPSG:32736"
X0, Y0 = 500_000, 9_700_000  # a grid corner (multiples of the 1 km tile)
KEY = "data.tiles.stac.region.path"


def km(*points: tuple[float, float]) -> list[tuple[float, float]]:
    """UTM 36S coordinates of points given in km from (X0, Y0)."""
    return [(X0 + x * 1000, Y0 + y * 1000) for x, y in points]


# An L: three 1 km tiles tall on the west, a 1 km-high foot to the east. Its edges lie mid-tile,
# so each tile's membership is clear-cut. Its bounding box covers columns 0..3 and rows 0..3; the
# notch (columns 2..3, rows 2..3) lies inside the box but outside the L.
L_SHAPE = Polygon(km((0.5, 0.5), (3.5, 0.5), (3.5, 1.5), (1.5, 1.5), (1.5, 3.5), (0.5, 3.5)))
L_TILES = ["e500_n9703", "e501_n9703",
           "e500_n9702", "e501_n9702",
           "e500_n9701", "e501_n9701", "e502_n9701", "e503_n9701",
           "e500_n9700", "e501_n9700", "e502_n9700", "e503_n9700"]
NOTCH = {"e502_n9703", "e503_n9703", "e502_n9702", "e503_n9702"}


def write_boundaries(path) -> None:
    """A GADM-like file: two provinces (the L and a far square) and a road (a line)."""
    gpd.GeoDataFrame({"NAME_1": ["Kigali", "East", "Road"], "GID": [11, 12, 13]},
                     geometry=[L_SHAPE, box(*km((20, 20))[0], *km((21, 21))[0]),
                               LineString(km((0, 0), (5, 5)))], crs=CRS).to_file(path)


def test_an_l_shaped_region_gets_its_tiles_not_those_of_its_notch(tmp_path) -> None:
    write_boundaries(tmp_path / "gadm.gpkg")
    region = read_region(tmp_path / "gadm.gpkg", KEY, "NAME_1", ["Kigali"])
    tiles = area_tiles([], 1.0, region, 1000.0, CRS)
    assert [t.tile_id for t in tiles] == L_TILES
    assert tiles[0].bounds == (500_000.0, 9_703_000.0, 501_000.0, 9_704_000.0)
    assert NOTCH.isdisjoint(t.tile_id for t in tiles)
    # the bounding box would have taken the notch too
    bbox_tiles = area_tiles([], 1.0, region.bounds, 1000.0, CRS)
    assert NOTCH <= {t.tile_id for t in bbox_tiles}


def test_cluster_boxes_are_added_to_the_region_and_numbers_select_as_text(tmp_path) -> None:
    write_boundaries(tmp_path / "gadm.gpkg")
    region = read_region(tmp_path / "gadm.gpkg", KEY, "GID", ["11"])
    from pyproj import Transformer

    lonlat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    cluster = lonlat.transform(*km((10.5, 10.5))[0])  # 0.4 km reach: its one tile only
    tiles = [t.tile_id for t in area_tiles([cluster], 0.4, region, 1000.0, CRS)]
    assert tiles == ["e510_n9710", *L_TILES]


def test_without_a_column_every_polygon_is_the_region(tmp_path) -> None:
    gpd.GeoDataFrame(geometry=[L_SHAPE, box(*km((20.2, 20.2))[0], *km((21.5, 20.8))[0])],
                     crs=CRS).to_file(tmp_path / "two.gpkg")
    region = read_region(tmp_path / "two.gpkg", KEY)
    tiles = [t.tile_id for t in area_tiles([], 1.0, region, 1000.0, CRS)]
    assert tiles == ["e520_n9720", "e521_n9720", *L_TILES]  # not the 22 x 21 tiles between


def test_region_errors_name_the_file_and_what_was_found(tmp_path) -> None:
    path = tmp_path / "gadm.gpkg"
    write_boundaries(path)
    with pytest.raises(InputDataError, match=r"gadm\.gpkg: no column 'NAME_2' \(data\.tiles\.stac"
                                             r"\.region\.column\); columns are \['NAME_1', 'GID'\]"):
        read_region(path, KEY, "NAME_2", ["Kigali"])
    with pytest.raises(InputDataError, match=r"no feature has NAME_1 = \['Kigalli'\] \(data\.tiles"
                                             r"\.stac\.region\.values\); 3 values there, e\.g\. "
                                             r"\['East', 'Kigali', 'Road'\]"):
        read_region(path, KEY, "NAME_1", ["Kigali", "Kigalli"])
    with pytest.raises(InputDataError, match=r"needs \(multi\)polygons, but 1 of the 2 selected "
                                             r"feature\(s\) are \['LineString'\]"):
        read_region(path, KEY, "NAME_1", ["Kigali", "Road"])
    bad = tmp_path / "bad.gpkg"
    bad.write_text("not a geopackage")
    with pytest.raises(InputDataError, match=r"bad\.gpkg: cannot read the polygon file given as "
                                             r"data\.tiles\.stac\.region\.path"):
        read_region(bad, KEY)
    with pytest.raises(InputDataError, match=r"nope\.gpkg: polygon file not found"):
        read_region(tmp_path / "nope.gpkg", KEY)


def stac_tiles(region: RegionConfig) -> TilesConfig:
    stac = StacConfig(url="http://127.0.0.1:9/api", collection="s2", datetime="2020-01-01/..",
                      assets=("B04", "B03", "B02"), crs=CRS, resolution_m=10.0, region=region)
    return TilesConfig(source="stac", stac=stac, tile_size_px=100)


def test_a_region_read_by_url_from_a_range_request_server(file_server) -> None:
    folder, url = file_server
    write_boundaries(folder / "gadm.gpkg")
    region = RegionConfig(path=f"{url}/gadm.gpkg", column="NAME_1", values=["Kigali"])
    assert region.path == f"{url}/gadm.gpkg"  # kept as a URL, not joined to a folder
    tiles = stac_tiles(region)
    request = stac_request(tiles, [])  # 100 px of 10 m: the 1 km grid
    assert [t.tile_id for t in request.tiles] == L_TILES
    assert tile_files(tiles) == [f"{url}/gadm.gpkg"]  # fingerprinted by its URL
    missing = RegionConfig(path=f"{url}/nope.gpkg")
    with pytest.raises(InputDataError, match=rf"{url}/nope\.gpkg: cannot read the polygon file "
                                             r"given as data\.tiles\.stac\.region\.path .*check "
                                             r"the URL"):
        stac_request(stac_tiles(missing), [])


def test_region_config_keeps_column_and_values_together_and_one_region() -> None:
    with pytest.raises(ValueError, match="`column` and `values` go together"):
        RegionConfig(path="https://example.org/gadm.gpkg", column="NAME_1")
    with pytest.raises(ValueError, match="`column` and `values` go together"):
        RegionConfig(path="https://example.org/gadm.gpkg", values=["Kigali"])
    assert RegionConfig(path="s3://b/gadm.gpkg", column="GID", values=[11]).values == ("11",)
    assert RegionConfig(path="s3://b/gadm.gpkg").path == "s3://b/gadm.gpkg"
    with pytest.raises(ValueError, match="`region_bbox` or as `region`"):
        StacConfig(url="http://127.0.0.1:9/api", collection="s2", datetime="2020",
                   assets=("B04", "B03", "B02"), region_bbox=(29.0, -2.0, 30.0, -1.0),
                   region=RegionConfig(path="s3://b/gadm.gpkg"))
