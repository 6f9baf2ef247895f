"""Tests for pipeline.models.weights: where ImageNet weight files are looked for, in what order."""

from __future__ import annotations

from pathlib import Path

import pytest
from keras.src.backend import config as keras_backend_config

from pipeline.errors import MissingArtifactError
from pipeline.config.schema import WEIGHTS_DIR_ENV as CONFIG_WEIGHTS_DIR_ENV
from pipeline.models import WEIGHTS_DIR_ENV, Weights, get_backbone, resolve_weights
from pipeline.models import weights as weights_module

SPEC = get_backbone("mobilenet_0.25")
IMAGENET = Weights("imagenet")
FILENAME = "mobilenet_2_5_224_tf_no_top.h5"
URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/" + FILENAME


def _place(folder: Path, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILENAME
    path.write_bytes(content)
    return path


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, Path]]:
    """Patch the download so that any call is recorded and fails the way Keras fails offline."""
    calls: list[tuple[str, str, Path]] = []

    def fail(filename: str, url: str, cache_dir: Path) -> Path:
        calls.append((filename, url, cache_dir))
        raise Exception(f"URL fetch failure on {url}: None -- network unreachable")  # noqa: TRY002

    monkeypatch.setattr(weights_module, "_download", fail)
    return calls


def test_weights_dir_is_searched_before_the_keras_cache(tmp_path: Path, no_download: list) -> None:
    in_dir = _place(tmp_path / "weights", b"dir")
    _place(tmp_path / "cache", b"cache")
    found = resolve_weights(SPEC, IMAGENET, 64, tmp_path / "weights", tmp_path / "cache")
    assert found == in_dir
    assert found.read_bytes() == b"dir"
    assert no_download == []


@pytest.mark.parametrize("weights_dir", ["empty", None])
def test_keras_cache_is_used_when_the_weights_dir_lacks_the_file(
    tmp_path: Path, no_download: list, weights_dir: str | None
) -> None:
    (tmp_path / "empty").mkdir()
    in_cache = _place(tmp_path / "cache", b"cache")
    folder = tmp_path / weights_dir if weights_dir else None
    assert resolve_weights(SPEC, IMAGENET, 64, folder, tmp_path / "cache") == in_cache
    assert no_download == []


def test_download_is_used_when_no_folder_has_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "mirror" / FILENAME
    source.parent.mkdir()
    source.write_bytes(b"downloaded")
    calls: list[tuple[str, str, Path]] = []

    def copy_local(filename: str, url: str, cache_dir: Path) -> Path:  # the torchgeo way
        calls.append((filename, url, cache_dir))
        cache_dir.mkdir(parents=True, exist_ok=True)
        target = cache_dir / filename
        target.write_bytes(source.read_bytes())
        return target

    monkeypatch.setattr(weights_module, "_download", copy_local)
    found = resolve_weights(SPEC, IMAGENET, 64, tmp_path / "weights", tmp_path / "cache")
    assert calls == [(FILENAME, URL, tmp_path / "cache")]
    assert found == tmp_path / "cache" / FILENAME
    assert found.read_bytes() == b"downloaded"
    # A second call finds the file in the cache and does not download again.
    assert resolve_weights(SPEC, IMAGENET, 64, tmp_path / "weights", tmp_path / "cache") == found
    assert len(calls) == 1


def test_missing_file_without_download_says_what_to_place_where(
    tmp_path: Path, no_download: list
) -> None:
    with pytest.raises(MissingArtifactError) as caught:
        resolve_weights(SPEC, IMAGENET, 64, tmp_path / "weights", tmp_path / "cache",
                        download=False)
    message = str(caught.value)
    assert no_download == []
    assert isinstance(caught.value, FileNotFoundError)
    for part in (FILENAME, URL, "model.weights_dir", "POVERTY_PIPELINE_WEIGHTS_DIR",
                 str(tmp_path / "weights"), str(tmp_path / "cache"), "download is disabled"):
        assert part in message


def test_failed_download_says_what_to_place_where(tmp_path: Path, no_download: list) -> None:
    with pytest.raises(MissingArtifactError, match=r"the download failed .*network unreachable"
                       ) as caught:
        resolve_weights(SPEC, IMAGENET, 64, None, tmp_path / "cache")
    assert len(no_download) == 1
    assert FILENAME in str(caught.value)
    assert "model.weights_dir" in str(caught.value)
    assert "network unreachable" in str(caught.value.__cause__)


def test_explicit_path_is_returned_as_is(tmp_path: Path, no_download: list) -> None:
    path = tmp_path / "my_backbone.h5"
    path.write_bytes(b"x")
    assert resolve_weights(SPEC, Weights.parse(str(path)), 64, tmp_path / "weights", tmp_path / "cache") == path


def test_explicit_path_that_does_not_exist_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.h5"
    with pytest.raises(MissingArtifactError, match=r"model\.weights: weights file .*nope\.h5"):
        resolve_weights(SPEC, Weights.parse(str(missing)), 64, None, tmp_path / "cache")


@pytest.mark.parametrize("value", ["none", "None", " NONE "])
def test_none_means_random_initialisation(tmp_path: Path, value: str, no_download: list) -> None:
    _place(tmp_path / "weights", b"dir")
    assert resolve_weights(SPEC, Weights.parse(value), 64, tmp_path / "weights", tmp_path / "cache") is None


def test_default_cache_dir_is_keras_home_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keras_backend_config, "_KERAS_DIR", str(tmp_path / "khome"))
    (tmp_path / "khome").mkdir()
    assert weights_module.default_keras_cache_dir() == tmp_path / "khome" / "models"
    in_cache = _place(tmp_path / "khome" / "models", b"cache")
    assert resolve_weights(SPEC, IMAGENET, 64, tmp_path / "weights") == in_cache


def test_size_specific_file_is_preferred_in_any_folder(tmp_path: Path, no_download: list) -> None:
    _place(tmp_path / "weights", b"224")
    sized = tmp_path / "cache" / "mobilenet_2_5_128_tf_no_top.h5"
    sized.parent.mkdir()
    sized.write_bytes(b"128")
    assert resolve_weights(SPEC, IMAGENET, 128, tmp_path / "weights", tmp_path / "cache") == sized


def test_default_size_file_is_used_before_downloading_a_size_specific_one(
    tmp_path: Path, no_download: list
) -> None:
    in_dir = _place(tmp_path / "weights", b"224")
    assert resolve_weights(SPEC, IMAGENET, 128, tmp_path / "weights", tmp_path / "cache") == in_dir
    assert no_download == []


def test_missing_size_specific_file_names_both_files(tmp_path: Path, no_download: list) -> None:
    with pytest.raises(MissingArtifactError, match=r"mobilenet_2_5_128_tf_no_top\.h5 is not at .*"
                       r"\(nor is the 224 px file mobilenet_2_5_224_tf_no_top\.h5\)"):
        resolve_weights(SPEC, IMAGENET, 128, tmp_path / "weights", tmp_path / "cache")


@pytest.mark.parametrize(("value", "kind", "path"), [
    ("imagenet", "imagenet", None), (" ImageNet ", "imagenet", None), ("NONE", "none", None),
    ("/w/vgg.h5", "file", Path("/w/vgg.h5")),
])
def test_weights_are_parsed_once_into_a_kind(value: str, kind: str, path: Path | None) -> None:
    weights = Weights.parse(value)
    assert (weights.kind, weights.path) == (kind, path)
    assert weights.files() == ([] if path is None else [path])
    assert str(weights) == (kind if path is None else str(path))


def test_the_weights_dir_variable_is_the_configs() -> None:
    assert WEIGHTS_DIR_ENV == CONFIG_WEIGHTS_DIR_ENV == "POVERTY_PIPELINE_WEIGHTS_DIR"
