"""A STAC acquisition's summary (ingest/acquisition.json) and its section of the report."""

from __future__ import annotations

import json

import pandas as pd

from pipeline.outputs.report_acquisition import acquisition_section
from pipeline.tiles.acquisition import acquisition_summary
from pipeline.tiles.stac_api import StacQuery

ITEMS = [{"id": f"S2-{k}", "properties": {"datetime": f"2020-0{k + 1}-01T00:00:00Z",
                                          "eo:cloud_cover": 10.0 * k}} for k in range(3)]


def test_summary_counts_the_tiles_each_item_covers_and_the_clear_share(tmp_path):
    query = StacQuery("http://api", "s2", "2020", ("B04", "B03", "B02"), max_cloud_cover=30)
    catalog = pd.DataFrame({"stac_items": ["S2-0,S2-1", "S2-1", "S2-1,S2-2"],
                            "clear_share": [1.0, 0.5, 0.9], "clear_count_mean": [2.0, 1.0, 1.5]})
    summary = acquisition_summary(query, ITEMS, catalog, too_few_clear=4)
    assert [(i["id"], i["tiles"], i["cloud_cover"]) for i in summary["items"]] == [
        ("S2-0", 1, 0.0), ("S2-1", 3, 10.0), ("S2-2", 1, 20.0)]
    assert (summary["clear_share_mean"], summary["clear_share_min"]) == (0.8, 0.5)
    assert summary["tiles"] == 3 and summary["tiles_too_few_clear"] == 4
    (tmp_path / "acquisition.json").write_text(json.dumps(summary))
    (tmp_path / "nightlights.json").write_text(json.dumps({
        "url": "http://api", "collection": "nl", "datetime": "2016", "asset": "radiance",
        "reducer": "median", "time_steps": 3, "crs": "EPSG:4326", "resolution": 0.004,
        "items": ["NL-1", "NL-2", "NL-3"], "datetimes": ["2016-01-15", None, "2016-03-15"]}))
    html = acquisition_section(tmp_path / "acquisition.json", tmp_path / "nightlights.json")
    assert "collection <code>s2</code>" in html and "<td>S2-1</td>" in html
    assert "clear share mean 0.800 (min 0.500)" in html and "the median of 3 time step" in html
    assert acquisition_section(None, None) == ""
