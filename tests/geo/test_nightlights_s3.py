"""Night lights and survey tables read from an S3-compatible store (moto's server on 127.0.0.1),
through GDAL's /vsis3/ and pyarrow, with the settings a user gives a store that is not AWS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.shutil import copy as copy_raster
from shapely.geometry import box

from pipeline.errors import InputDataError
from pipeline.geo.nightlights import sample_footprints
from pipeline.survey.tables import read_table


@pytest.fixture
def lights_on_s3(s3_store, tiny_world, tmp_path):
    """(local COG, bucket): the demo world's night lights as a COG, uploaded to the store."""
    bucket, put = s3_store
    local = tmp_path / "nightlights.tif"
    copy_raster(tiny_world / "nightlights.tif", local, driver="COG")
    put(local, "viirs/2016.tif")
    return local, bucket


def test_radiance_read_from_s3_equals_the_local_files(lights_on_s3, tiny_world):
    local, bucket = lights_on_s3
    survey = pd.read_csv(tiny_world / "survey.csv")
    survey = survey[(survey.lat != 0) | (survey.lon != 0)].head(12)
    footprints = [box(lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)
                  for lon, lat in zip(survey.lon, survey.lat, strict=True)]
    expected = sample_footprints(footprints, local)
    assert np.isfinite(expected).all() and expected[:, 1].max() > 0
    for url in (f"s3://{bucket}/viirs/2016.tif", f"/vsis3/{bucket}/viirs/2016.tif"):
        np.testing.assert_array_equal(sample_footprints(footprints, url), expected)
    with rasterio.open(f"s3://{bucket}/viirs/2016.tif") as src, rasterio.open(local) as ref:
        np.testing.assert_array_equal(src.read(1), ref.read(1))


def test_a_missing_key_names_the_url_and_the_key(lights_on_s3):
    _, bucket = lights_on_s3
    with pytest.raises(InputDataError, match=rf"s3://{bucket}/viirs/2015\.tif: cannot open the "
                                             r"nightlight raster .*data\.nightlights\.path"):
        sample_footprints([box(0, 0, 1, 1)], f"s3://{bucket}/viirs/2015.tif")


def test_survey_tables_by_s3_url(s3_store, tmp_path):
    bucket, put = s3_store
    table = pd.DataFrame({"cluster_id": ["a", "b"], "lat": [-1.5, -2.0], "lon": [30.1, 29.8]})
    table.to_parquet(tmp_path / "survey.parquet")
    table.to_csv(tmp_path / "survey.csv", index=False)
    put(tmp_path / "survey.parquet", "survey.parquet")
    put(tmp_path / "survey.csv", "survey.csv")
    # Parquet is read by pyarrow's own S3 client (AWS_ENDPOINT_URL): no extra package
    pd.testing.assert_frame_equal(read_table(f"s3://{bucket}/survey.parquet"), table)
    try:
        import s3fs  # noqa: F401
    except ImportError:
        with pytest.raises(InputDataError, match=rf"^s3://{bucket}/survey\.csv: reading s3:// "
                                                 r"needs the Python package s3fs, which is not "
                                                 r"installed \(data\.survey\.path\); pip install "
                                                 r"s3fs, or .*\.parquet"):
            read_table(f"s3://{bucket}/survey.csv")
    else:  # with s3fs, the CSV is read like the Parquet file
        pd.testing.assert_frame_equal(read_table(f"s3://{bucket}/survey.csv"), table)
