"""Real servers for the STAC tile source: a COG server answering range requests (with faults on
demand) and ``rustac serve`` holding the items of :mod:`stac_scenes`; the same items in
stac-fastapi-pgstac (``pgstac_world``), a STAC API that filters on the server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from stac_scenes import StacWorld, clear_gdal_http_cache, landsat_scenes, s2_scenes

from pipeline.demo.cog_server import CogServer
from pipeline.demo.stac_world import StacApi, publish


@pytest.fixture(scope="session")
def stac_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StacWorld]:
    """``rustac serve`` with collections ``s2-test`` and ``landsat-test`` whose assets are COGs
    on a local range-request server."""
    root = tmp_path_factory.mktemp("stac-world")
    s2, landsat = s2_scenes(), landsat_scenes()
    with CogServer(root) as cogs:
        hrefs = publish(s2, root / "s2", f"{cogs.url}/s2", "s2-test")
        hrefs += publish(landsat, root / "landsat", f"{cogs.url}/landsat", "landsat-test")
        with StacApi(hrefs) as api:
            yield StacWorld(api.url, cogs, s2, landsat, tuple(hrefs))


@pytest.fixture(scope="session")
def pgstac_world(stac_world: StacWorld) -> Iterator[StacWorld]:
    """``stac_world`` with its collections and items in stac-fastapi-pgstac (PostgreSQL + PostGIS
    + pgstac) instead of ``rustac serve``: the same COGs, an API that filters on the server.
    Skips, naming the fix, where PostgreSQL, PostGIS or the Python packages are missing."""
    from pgstac_server import PgstacApi, PgstacUnavailable

    try:
        api = PgstacApi(stac_world.hrefs)
    except PgstacUnavailable as exc:
        pytest.skip(f"stac-fastapi-pgstac cannot start: {exc}")
    with api:
        yield replace(stac_world, api_url=api.url)


@pytest.fixture
def cog_faults(stac_world: StacWorld) -> Iterator[CogServer]:
    """The COG server (GDAL's HTTP cache emptied, so reads reach it; its count of injected
    faults zeroed), its faults cleared after the test."""
    clear_gdal_http_cache()
    stac_world.cogs.log.faults.clear()
    yield stac_world.cogs
    stac_world.cogs.faults.clear()
    clear_gdal_http_cache()  # GDAL remembers failed URLs: the next test starts clean
