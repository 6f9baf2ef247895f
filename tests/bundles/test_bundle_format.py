"""A bundle's integrity: every file checksummed and verified on load; formats refused by name."""

import json

import pytest

from pipeline.bundles.format import (
    CHECKSUMS,
    FILES,
    FORMAT_VERSION,
    MODELS,
    NETWORK,
    open_bundle,
    write_checksums,
)
from pipeline.bundles.tiles import check_bands, check_resolution, matching_window_px
from pipeline.errors import InputDataError, MissingArtifactError


@pytest.fixture
def bundle_dir(tmp_path):
    folder = tmp_path / "bundle"
    folder.mkdir()
    for name in FILES:
        (folder / name).write_bytes(f"content of {name}\n".encode() * 10)
    (folder / "bundle.json").write_text(json.dumps({"tiles": {"bands": [1, 2, 3]}}))
    write_checksums(folder, "1.2.0")
    return folder


def test_an_intact_bundle_opens_with_its_versions(bundle_dir):
    bundle = open_bundle(bundle_dir, "1.2.0")
    assert bundle.format_version == FORMAT_VERSION
    assert bundle.package_version == "1.2.0"
    assert bundle.tiles == {"bands": [1, 2, 3]}
    assert len(bundle.digest) == 64
    assert {p.name for p in bundle.files()} == {CHECKSUMS, *FILES}


def test_a_flipped_byte_is_refused_naming_the_file(bundle_dir):
    path = bundle_dir / NETWORK
    data = bytearray(path.read_bytes())
    data[5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(InputDataError, match=rf"checksum mismatch in {NETWORK}"):
        open_bundle(bundle_dir, "1.2.0")


def test_a_missing_file_is_refused_naming_it(bundle_dir):
    (bundle_dir / MODELS).unlink()
    with pytest.raises(MissingArtifactError, match=rf"missing: {MODELS}"):
        open_bundle(bundle_dir, "1.2.0")


def test_a_newer_format_is_refused_naming_both_versions(bundle_dir):
    manifest = json.loads((bundle_dir / CHECKSUMS).read_text())
    manifest.update(format_version=FORMAT_VERSION + 1, package_version="9.0.0")
    (bundle_dir / CHECKSUMS).write_text(json.dumps(manifest))
    with pytest.raises(InputDataError) as error:
        open_bundle(bundle_dir, "1.2.0")
    message = str(error.value)
    assert f"bundle format {FORMAT_VERSION + 1}" in message and "9.0.0" in message
    assert "1.2.0" in message and f"format {FORMAT_VERSION})" in message
    assert "Upgrade poverty-pipeline" in message


def test_a_folder_without_checksums_is_not_a_bundle(tmp_path):
    with pytest.raises(MissingArtifactError, match="not a model bundle"):
        open_bundle(tmp_path, "1.2.0")


def test_band_count_must_match_the_bundle(tmp_path):
    assert check_bands([1, 2, 3], None, tmp_path, tmp_path) == (1, 2, 3)
    assert check_bands([1, 2, 3], [4, 3, 2], tmp_path, tmp_path) == (4, 3, 2)
    with pytest.raises(InputDataError, match=r"selects 4 band\(s\).*trained on 3"):
        check_bands([1, 2, 3], [4, 3, 2, 8], tmp_path, tmp_path)


def test_resolution_within_tolerance_is_resampled_and_beyond_refused(tmp_path):
    assert check_resolution(15.05, 15.0, tmp_path, tmp_path) is None
    note = check_resolution(17.0, 15.0, tmp_path, tmp_path)
    assert "17 m" in note and "15 m" in note and "resampled" in note
    with pytest.raises(InputDataError, match=r"30 m per cached pixel.*at 15 m"):
        check_resolution(30.0, 15.0, tmp_path, tmp_path)
    assert matching_window_px(15.0, 64, 10.0) == 96
