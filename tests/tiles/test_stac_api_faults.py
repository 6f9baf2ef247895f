"""The STAC API behind a fault-injecting proxy: retries to the same search result, one-line
errors, and the cloud-cover terms a search sends, observed on the network."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from stac_scenes import S2_ASSETS

from pipeline.demo.stac_proxy import StacProxy
from pipeline.errors import InputDataError, StageError
from pipeline.tiles.stac_api import StacQuery, search_items

BBOX = (35.69, -1.97, 35.71, -1.95)  # lon/lat around the test scenes (UTM 36S)
FILTER = "https://api.stacspec.org/v1.0.0/item-search#filter"
QUERY = "https://api.stacspec.org/v1.0.0/item-search#query"


def query(url: str, **kw) -> StacQuery:
    settings = {"collection": "s2-test", "datetime": "2020-01-01/2020-12-31",
                "assets": S2_ASSETS, "max_cloud_cover": 50.0, "retries": 3,
                "retry_delay_s": 0.01, "timeout_s": 10, **kw}
    return StacQuery(url, **settings)


def ids(items: list[dict]) -> list[str]:
    return [i["id"] for i in items]


@pytest.fixture
def proxy(stac_world) -> Iterator[StacProxy]:
    with StacProxy(stac_world.api_url) as running:
        yield running


def test_the_proxy_passes_the_api_through(stac_world, proxy):
    assert ids(search_items(query(proxy.url), BBOX)) == ["S2-0", "S2-1", "S2-2"]
    assert proxy.log.requests["/search"] >= 1  # links were rewritten: the search came through
    assert ids(search_items(query(stac_world.api_url), BBOX)) == ["S2-0", "S2-1", "S2-2"]


@pytest.mark.parametrize("fault", ["500", "drop"])
def test_api_faults_are_retried_to_the_same_search_result(proxy, fault):
    proxy.inject(fault, 2, match="/search")
    assert ids(search_items(query(proxy.url), BBOX)) == ["S2-0", "S2-1", "S2-2"]
    assert proxy.log.faults[fault] == 2 and proxy.log.requests["/search"] == 3


def test_a_429_is_retried_after_its_retry_after(proxy):
    proxy.inject("429", 1, match="/search", retry_after_s=1)
    start = time.monotonic()
    assert ids(search_items(query(proxy.url), BBOX)) == ["S2-0", "S2-1", "S2-2"]
    waited = time.monotonic() - start
    assert proxy.log.faults["429"] == 1 and waited >= 1.0  # not the 0.01 s backoff
    assert waited < 5.0


def test_an_api_that_keeps_failing_gives_one_clear_line(proxy):
    proxy.inject("500", 1000, match="/search")
    with pytest.raises(StageError) as e:
        search_items(query(proxy.url, retries=2), BBOX)
    message = str(e.value)
    assert message == (f"STAC API {proxy.url}/search kept failing after 2 retries (HTTP 500); "
                       "raise data.tiles.stac.retries or try again later.")
    assert e.value.exit_code == 4 and proxy.log.requests["/search"] == 3


def test_a_landing_page_that_keeps_failing_is_not_called_a_bad_url(proxy):
    proxy.inject("500", 1000, match="/")
    with pytest.raises(StageError, match=r"kept failing after 1 retries \(HTTP 500\); raise "
                                         r"data.tiles.stac.retries"):
        search_items(query(proxy.url, retries=1), BBOX)


def test_an_unknown_collection_lists_the_api_s_collections(proxy):
    with pytest.raises(InputDataError, match=r"collection 'nope' not found; it has 2 "
                                             r"collection\(s\): landsat-test, s2-test") as e:
        search_items(query(proxy.url, collection="nope"), BBOX)
    assert e.value.exit_code == 2 and "\n" not in str(e.value)


def search_bodies(proxy: StacProxy) -> list[dict]:
    return [body for path, body in proxy.bodies if path.startswith("/search")]


def test_rustac_declares_no_filter_so_cloud_cover_is_filtered_here(proxy):
    server = search_items(query(proxy.url, cloud_filter="server", max_cloud_cover=25.0), BBOX)
    (body,) = search_bodies(proxy)
    assert "filter" not in body and "query" not in body
    client = search_items(query(proxy.url, cloud_filter="client", max_cloud_cover=25.0), BBOX)
    assert ids(server) == ids(client) == ["S2-0", "S2-1"]


@pytest.mark.parametrize("declared, sent", [
    ([FILTER], {"filter": {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 25.0]},
                "filter-lang": "cql2-json"}),
    ([QUERY], {"query": {"eo:cloud_cover": {"lte": 25.0}}}),
    ([FILTER, QUERY], {"filter-lang": "cql2-json"}),
])
def test_an_api_declaring_filter_or_query_is_sent_it(stac_world, declared, sent):
    # the proxy makes rustac declare the extension and drops the terms before they reach it
    # (rustac's in-memory backend answers any filter or query with no item)
    with StacProxy(stac_world.api_url, declare=declared,
                   ignore=("filter", "filter-lang", "query")) as proxy:
        server = search_items(query(proxy.url, max_cloud_cover=25.0), BBOX)
        (body,) = search_bodies(proxy)
        assert {k: body.get(k) for k in sent} == sent
        assert ("query" in body) == (declared == [QUERY])
        client = search_items(query(proxy.url, max_cloud_cover=25.0, cloud_filter="client"),
                              BBOX)
        assert "filter" not in search_bodies(proxy)[1]
    assert ids(server) == ids(client) == ["S2-0", "S2-1"]  # filtered again here all the same


@pytest.mark.slow
def test_a_stage_failing_after_retries_exits_4_and_keeps_finished_shards(stac_world, cog_faults,
                                                                          tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    import pandas as pd
    from test_stac_ingest import REPO, ingest, write_config

    config = write_config(tmp_path, stac_world.api_url, tmp_path / "run", retries=1)
    env = {**os.environ, "PYTHONPATH": str(REPO),
           "CPL_VSIL_CURL_NON_CACHED": f"/vsicurl/{stac_world.cogs.url}"}  # every read reaches it
    process = subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(config), "--until",
                                "ingest", "--quiet"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    shards = tmp_path / "run" / ".tmp-ingest" / "_shards"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None \
            and not list(shards.glob("*/shard_*.json")):
        time.sleep(0.05)
    cog_faults.inject("500", 100_000, match="/s2/")  # from now on every COG read fails
    _, stderr = process.communicate(timeout=300)
    cog_faults.faults.clear()
    assert process.returncode == 4, stderr
    assert "Traceback" not in stderr and "data.tiles.stac.retries" in stderr
    done = [p for p in shards.glob("*/shard_*.json") if json.loads(p.read_text())["status"] == "done"]
    assert 1 <= len(done) < 5  # 10 tiles in shards of 2: some finished, kept
    ingest(config)  # the rerun completes the rest
    ingest_dir = Path(tmp_path / "run" / "ingest")
    assert len(pd.read_parquet(ingest_dir / "tiles.parquet")) \
        + len(pd.read_csv(ingest_dir / "rejected.csv")) == 10
