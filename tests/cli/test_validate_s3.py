"""`validate` probes s3:// inputs by opening them on an S3-compatible store (moto's server on
127.0.0.1): found, a missing key, a survey table whose reader needs a package not installed."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from pipeline.cli.main import main


def _validate(config, capsys, nightlights: str, survey: str | None = None):
    data = yaml.safe_load(config.read_text())
    data["data"]["nightlights"]["path"] = nightlights
    if survey is not None:
        data["data"]["survey"]["path"] = survey
    config.write_text(yaml.safe_dump(data))
    code = main(["validate", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_validate_probes_s3_urls(s3_store, tiny_world, make_tiny_config, tmp_path, capsys):
    bucket, put = s3_store
    put(tiny_world / "nightlights.tif", "viirs/2016.tif")
    pd.read_csv(tiny_world / "survey.csv").to_parquet(tmp_path / "survey.parquet")
    put(tmp_path / "survey.parquet", "dhs/survey.parquet")
    put(tiny_world / "survey.csv", "dhs/survey.csv")
    config = make_tiny_config(tmp_path)
    code, out, err = _validate(config, capsys, f"s3://{bucket}/viirs/2016.tif",
                               f"s3://{bucket}/dhs/survey.parquet")
    assert code == 0, err
    assert f"s3://{bucket}/viirs/2016.tif" in out and f"s3://{bucket}/dhs/survey.parquet" in out

    code, _, err = _validate(config, capsys, f"s3://{bucket}/viirs/2015.tif")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: s3://{bucket}/viirs/2015.tif: cannot open it (")
    assert "check data.nightlights.path (bucket and key)" in err and "AWS_S3_ENDPOINT" in err

    try:
        import s3fs  # noqa: F401
    except ImportError:
        code, _, err = _validate(config, capsys, f"s3://{bucket}/viirs/2016.tif",
                                 f"s3://{bucket}/dhs/survey.csv")
        assert code == 2 and err.count("\n") == 1
        assert err.startswith(f"error: s3://{bucket}/dhs/survey.csv: reading s3:// needs the "
                              "Python package s3fs, which is not installed (data.survey.path); "
                              "pip install s3fs")
    else:
        pytest.skip("s3fs is installed: a CSV on s3:// is read, no message to check")
