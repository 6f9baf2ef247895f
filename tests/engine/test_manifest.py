"""The run directory's manifest: what a damaged manifest.json tells the user."""

from pathlib import Path

import pytest

from pipeline.errors import InputDataError
from pipeline.engine.manifest import Manifest


@pytest.mark.parametrize(("text", "found"), [
    ("[]", "a JSON object expected, found []"), ("3", "a JSON object expected, found 3"),
    ("null", "a JSON object expected, found null"), ('{"stages": ', "Expecting value")])
def test_a_manifest_that_is_not_a_json_object_says_to_delete_it(tmp_path: Path, text: str,
                                                                found: str) -> None:
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(InputDataError, match=r"manifest.json: unreadable manifest \(.*") as info:
        Manifest.load(tmp_path)
    assert found in str(info.value)
    assert str(info.value).endswith("Delete it to rerun every stage.")
