"""Cloud cover filtered by the server: stac-fastapi-pgstac (PostgreSQL + PostGIS + pgstac) holding
the same items as ``rustac serve``, observed through the recording proxy. Skips where PostgreSQL,
PostGIS or the server's Python packages are missing (``make pgstac-deps``)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest
from pystac_client import Client
from pystac_client.conformance import ConformanceClasses
from test_stac_api_faults import BBOX, ids, query, search_bodies
from test_stac_source import composite_of, s2_source

from pipeline.demo.stac_proxy import StacProxy
from pipeline.tiles.stac_api import search_items

COVER = {"S2-0": 10.0, "S2-1": 20.0, "S2-2": 35.0, "S2-3": 60.0}  # stac_scenes.s2_scenes


@pytest.fixture(scope="module")
def pgstac_proxy(pgstac_world) -> Iterator[StacProxy]:
    with StacProxy(pgstac_world.api_url) as proxy:
        yield proxy


@pytest.fixture
def proxy(pgstac_proxy: StacProxy) -> StacProxy:
    """The recording proxy in front of pgstac, its record emptied (one proxy for the module:
    each takes up to 0.5 s to stop)."""
    pgstac_proxy.bodies.clear()
    pgstac_proxy.answers.clear()
    return pgstac_proxy


def search_answers(proxy: StacProxy) -> list[dict]:
    return [answer for path, answer in proxy.answers if path.startswith("/search")]


def answered(proxy: StacProxy) -> list[tuple[str, float]]:
    """(id, eo:cloud_cover) of every item the API sent back to the searches, in its order."""
    return sorted((f["id"], f["properties"]["eo:cloud_cover"])
                  for answer in search_answers(proxy) for f in answer["features"])


def test_pgstac_declares_the_filter_and_query_extensions(pgstac_world):
    client = Client.open(pgstac_world.api_url)
    assert client.conforms_to(ConformanceClasses.FILTER)
    assert client.conforms_to(ConformanceClasses.QUERY)
    assert {c.id for c in client.get_collections()} == {"s2-test", "landsat-test"}


@pytest.mark.parametrize("limit, kept", [(25.0, ["S2-0", "S2-1"]), (20.0, ["S2-0", "S2-1"]),
                                         (35.0, ["S2-0", "S2-1", "S2-2"])])
def test_pgstac_filters_cloud_cover_with_the_cql2_filter(proxy, limit, kept):
    found = search_items(query(proxy.url, cloud_filter="server", max_cloud_cover=limit), BBOX)
    (body,) = search_bodies(proxy)
    assert body["filter"] == {"op": "<=", "args": [{"property": "eo:cloud_cover"}, limit]}
    assert body["filter-lang"] == "cql2-json" and "query" not in body
    assert ids(found) == kept
    # the server's answer held only these: the client's second filter removed nothing
    assert answered(proxy) == [(i, COVER[i]) for i in kept]


def test_without_the_server_filter_pgstac_sends_every_item(proxy):
    found = search_items(query(proxy.url, cloud_filter="client", max_cloud_cover=25.0), BBOX)
    (body,) = search_bodies(proxy)
    assert "filter" not in body and "query" not in body
    assert ids(found) == ["S2-0", "S2-1"]  # filtered here
    assert answered(proxy) == sorted(COVER.items())  # the server sent all four


def test_pgstac_filters_cloud_cover_with_the_query_extension(pgstac_world):
    # the proxy hides pgstac's filter classes: the client falls back to the query extension
    with StacProxy(pgstac_world.api_url, withhold=("#filter", "conf/filter")) as proxy:
        assert not Client.open(proxy.url).conforms_to(ConformanceClasses.FILTER)
        found = search_items(query(proxy.url, cloud_filter="server", max_cloud_cover=25.0), BBOX)
        (body,) = search_bodies(proxy)
    assert body["query"] == {"eo:cloud_cover": {"lte": 25.0}} and "filter" not in body
    assert ids(found) == ["S2-0", "S2-1"]
    assert answered(proxy) == [("S2-0", 10.0), ("S2-1", 20.0)]


def test_an_acquisition_from_pgstac_equals_one_from_rustac(stac_world, pgstac_world, tmp_path):
    tiles = {}
    for name, world in (("rustac", stac_world), ("pgstac", pgstac_world)):
        source = s2_source(world, tmp_path / name, reach_km=0.1, max_cloud_cover=25.0)
        tiles[name] = [source.acquire(tile) for tile in source.request.tiles]
    assert len(tiles["pgstac"]) == len(tiles["rustac"]) >= 1
    for (got, error), (want, want_error) in zip(tiles["pgstac"], tiles["rustac"], strict=True):
        assert error is None and want_error is None
        np.testing.assert_array_equal(composite_of(got), composite_of(want))
        record, wanted = (json.loads(p.with_suffix(".json").read_text()) for p in (got, want))
        assert record["items"] == ["S2-0", "S2-1"] and record["cloud_cover"] == [10, 20]
        assert record.pop("key") != wanted.pop("key")  # the cache key holds the API's URL
        assert record == wanted  # the same items, dates and clear counts
