"""A large raster cut into windows: the grid, pixel values, overlap, VRT mosaics, real rasters."""

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from pipeline.config.schema import TilesConfig
from pipeline.errors import InputDataError
from pipeline.stages.ingest import read_spec, scaling_ranges, source_of
from pipeline.tiles.catalog import ingest_shard
from pipeline.tiles.inspect import read_overview
from pipeline.tiles.mosaic import MosaicSource, grid_windows, mosaic_windows, source_files
from pipeline.tiles.source import source_kind, tile_source


def test_grid_covers_the_raster_with_windows_inside_it():
    windows = grid_windows(100, 80, 32)
    cols = sorted({w[0] for w in windows})
    rows = sorted({w[1] for w in windows})
    assert cols == [0, 32, 64, 68] and rows == [0, 32, 48]
    assert len(windows) == 12 and windows[0] == (0, 0, 32, 32) and windows[1] == (32, 0, 32, 32)
    assert all(c + 32 <= 100 and r + 32 <= 80 for c, r, _, _ in windows)
    overlapped = grid_windows(100, 80, 32, overlap_px=8)
    assert sorted({w[0] for w in overlapped}) == [0, 24, 48, 68]
    assert grid_windows(20, 20, 32) == []


def pattern(width=100, height=80):
    """band 1 = column + 1, band 2 = row + 1, band 3 = 7 (uint8, no zeros)."""
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([cols + 1, rows + 1, np.full_like(cols, 7)]).astype(np.uint8)


def settings(path: Path, **kw) -> TilesConfig:
    return TilesConfig(path=path, tile_size_px=32, **kw)


def ingest_all(cfg: TilesConfig, cache: Path):
    cache.mkdir(exist_ok=True)
    source = source_of(cfg)
    results = [ingest_shard(source, shard, read_spec(cfg, None), cfg.min_valid_share, cache)
               for shard in source.shards(5)]
    rows = [r for r, _ in results if len(r)]
    import pandas as pd

    return (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(),
            pd.concat([b for _, b in results], ignore_index=True))


def test_mosaic_windows_hold_the_source_pixels(tmp_path, tif_writer):
    path = tif_writer(tmp_path / "mosaic.tif", pattern())
    cfg = settings(path, bands=(2, 1, 3))
    catalog, rejected = ingest_all(cfg, tmp_path / "cache")
    assert len(catalog) == 12 and len(rejected) == 0
    row = catalog[(catalog["col_off"] == 68) & (catalog["row_off"] == 48)].iloc[0]
    assert row["tile_id"] == "mosaic/r000048_c000068"
    assert (row["minx"], row["maxy"]) == (700000 + 680, 8500000 - 480)
    assert (row["maxx"], row["miny"]) == (700000 + 1000, 8500000 - 800)
    assert row["gsd_m"] == 10.0 and row["valid_share"] == 1.0
    tile = np.load(tmp_path / "cache" / f"shard_{row['shard']:05d}.npy")[row["offset"]]
    rows, cols = np.mgrid[48:80, 68:100]
    np.testing.assert_array_equal(tile[..., 0], rows + 1)  # band 2 first
    np.testing.assert_array_equal(tile[..., 1], cols + 1)
    assert (tile[..., 2] == 7).all()


def test_windows_below_the_valid_share_are_skipped_and_counted(tmp_path, tif_writer):
    data = pattern()
    data[:, :, :40] = 0  # nodata on the left 40 columns
    path = tif_writer(tmp_path / "m.tif", data, nodata=0)
    catalog, rejected = ingest_all(settings(path, min_valid_share=0.5), tmp_path / "cache")
    # column starts 0, 32, 64, 68: valid shares 0, 24/32, 1, 1 in each of 3 rows
    assert len(rejected) == 3
    assert rejected["reason"].str.contains("valid share 0.00 is below").all()
    assert sorted(catalog["valid_share"].round(3).unique()) == [0.75, 1.0]
    kept = catalog[catalog["col_off"] == 32].iloc[0]
    tile = np.load(tmp_path / "cache" / f"shard_{kept['shard']:05d}.npy")[kept["offset"]]
    assert (tile[:, :8] == 0).all() and (tile[:, 8:, 0] > 0).all()


VRT = """<VRTDataset rasterXSize="100" rasterYSize="80">
  <SRS>EPSG:32736</SRS>
  <GeoTransform>700000, 10, 0, 8500000, 0, -10</GeoTransform>
{bands}
</VRTDataset>"""
BAND = """  <VRTRasterBand dataType="Byte" band="{b}">
    <SimpleSource><SourceFilename relativeToVRT="1">left.tif</SourceFilename>
      <SourceBand>{b}</SourceBand><SrcRect xOff="0" yOff="0" xSize="50" ySize="80"/>
      <DstRect xOff="0" yOff="0" xSize="50" ySize="80"/></SimpleSource>
    <SimpleSource><SourceFilename relativeToVRT="1">right.tif</SourceFilename>
      <SourceBand>{b}</SourceBand><SrcRect xOff="0" yOff="0" xSize="50" ySize="80"/>
      <DstRect xOff="50" yOff="0" xSize="50" ySize="80"/></SimpleSource>
  </VRTRasterBand>"""


def test_a_vrt_of_two_files_is_cut_across_their_seam(tmp_path, tif_writer):
    from rasterio.transform import from_origin

    data = pattern()
    tif_writer(tmp_path / "left.tif", data[:, :, :50].copy())
    tif_writer(tmp_path / "right.tif", data[:, :, 50:].copy(),
               transform=from_origin(700500, 8500000, 10, 10))
    vrt = tmp_path / "mosaic.vrt"
    vrt.write_text(VRT.format(bands="\n".join(BAND.format(b=b) for b in (1, 2, 3))))
    assert source_kind(vrt, "auto") == "mosaic"
    assert source_files(vrt) == [vrt, tmp_path / "left.tif", tmp_path / "right.tif"]
    assert tile_source(vrt, window_px=32).files() == source_files(vrt)
    catalog, _ = ingest_all(settings(vrt, overlap_px=8), tmp_path / "cache")
    assert len(catalog) == 4 * 3
    seam = catalog[(catalog["col_off"] == 24) & (catalog["row_off"] == 0)].iloc[0]
    tile = np.load(tmp_path / "cache" / f"shard_{seam['shard']:05d}.npy")[seam["offset"]]
    np.testing.assert_array_equal(tile[0, :, 0], np.arange(24, 56) + 1)


def test_source_kind_checks_the_config(tmp_path, tif_writer):
    path = tif_writer(tmp_path / "m.tif", pattern())
    with pytest.raises(InputDataError, match="data.tiles.source: folder needs a folder of tiles"):
        source_kind(path, "folder")
    with pytest.raises(InputDataError, match="not found"):
        source_kind(tmp_path / "nope.tif", "auto")
    with pytest.raises(InputDataError, match="smaller than one window of 200 px"):
        mosaic_windows(path, 200, 0)


def test_the_source_is_chosen_from_the_path_and_the_config(tmp_path, tif_writer):
    path = tif_writer(tmp_path / "m.tif", pattern())
    source = tile_source(path, "auto", window_px=32, overlap_px=8)
    assert source == MosaicSource(path, 32, 8) and source.kind == "mosaic"
    assert source.count() == 4 * 3
    assert [len(s.items) for s in source.shards(5)] == [5, 5, 2]
    assert source.describe().n_files == 1 and source.describe().sampled[0].width == 100
    folder = tile_source(tmp_path, "folder")
    assert folder.kind == "folder" and folder.count() == 1 and folder.files() == [tmp_path]
    with pytest.raises(InputDataError, match="data.tiles.source: mosaic needs a raster file"):
        tile_source(tmp_path, "mosaic")


def test_overview_is_decimated_not_read_whole(tmp_path, tif_writer):
    path = tif_writer(tmp_path / "m.tif", pattern(400, 300))
    overview = read_overview(path, (1,), max_px=100)
    assert overview.shape == (1, 75, 100)


def test_real_rgbn_scene_cut_into_windows_matches_rasterio(tmp_path, shared_data):
    path = shared_data / "imagery" / "haiti_portauprince_rgbn_5m.tif"
    cfg = TilesConfig(path=path, tile_size_px=64, bands=(4, 1, 2))  # NIR, R, G
    catalog, rejected = ingest_all(cfg, tmp_path / "cache")
    assert len(catalog) == 9 * 7 and len(rejected) == 0  # 515 x 403 px in 64 px windows
    assert set(catalog["gsd_m"]) == {5.0} and catalog["crs"].iloc[0] == "EPSG:32618"
    row = catalog.iloc[10]
    with rasterio.open(path) as src:
        expected = src.read([4, 1, 2], window=Window(row["col_off"], row["row_off"], 64, 64))
    tile = np.load(tmp_path / "cache" / f"shard_{row['shard']:05d}.npy")[row["offset"]]
    np.testing.assert_array_equal(np.moveaxis(tile, -1, 0), expected)
    assert -72.6 < row["lon"] < -72.2 and 18.4 < row["lat"] < 18.7  # Port-au-Prince


def test_real_landsat_scene_skips_its_nodata_border(tmp_path, shared_data):
    path = shared_data / "imagery" / "landsat7_bahamas_rgb_300m.tif"
    cfg = TilesConfig(path=path, tile_size_px=32, min_valid_share=0.5)
    catalog, rejected = ingest_all(cfg, tmp_path / "cache")
    windows = grid_windows(791, 718, 32)
    with rasterio.open(path) as src:
        mask = src.dataset_mask() > 0
    shares = np.array([mask[r:r + h, c:c + w].mean() for c, r, w, h in windows])
    assert len(catalog) == int((shares >= 0.5).sum()) and len(rejected) == int((shares < 0.5).sum())
    assert len(rejected) > 100 and len(catalog) > 100
    np.testing.assert_allclose(np.sort(catalog["valid_share"]), np.sort(shares[shares >= 0.5]))


@pytest.mark.parametrize(("crs", "reason"), [
    ("EPSG:4326", r"is not within lon -180\.\.180, lat -90\.\.90"),  # metres read as degrees
    ('LOCAL_CS["site",UNIT["metre",1]]', "cannot be placed on the Earth"),
])
def test_a_mosaic_off_the_globe_stops_before_its_windows_are_read(tmp_path, tif_writer, crs,
                                                                 reason):
    from rasterio.crs import CRS

    path = tif_writer(tmp_path / "m.tif", pattern(), crs=CRS.from_user_input(crs))
    with pytest.raises(InputDataError, match=rf"m\.tif: its .*{reason}.*data\.tiles\.crs"):
        scaling_ranges(source_of(settings(path)), settings(path))
