"""A STAC API search with pystac-client: retries, secrets from the environment, clear failures.

Every request is retried with exponential backoff on connection errors, timeouts, 429 (after
its ``Retry-After``) and 5xx (urllib3's ``Retry``), and on an answer cut off in the middle of
its body (which urllib3 does not retry: it happens after the response has begun; see
:class:`~pipeline.tiles.stac_io.RetryingStacApiIO`). After the last retry the error is one line naming the URL, the
status and ``data.tiles.stac.retries`` (exit 4); a URL that is not a STAC API or a collection
it does not have is exit 2. Cloud cover is filtered by the API where it declares the filter
(CQL2) or query extension, and always again here (an API may declare and ignore). Secrets never enter the config: it names environment variables
(``token_env``, ``headers_env``), read by :func:`request_headers` when a request is made, and
nothing here logs or stores their values.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from urllib3.util.retry import Retry

from pipeline.errors import InputDataError, StageError

RETRY_STATUSES = (429, 500, 502, 503, 504)


@dataclass(frozen=True)
class StacQuery:
    """What to search and how to reach the API (plain values from ``data.tiles.stac`` or
    ``data.nightlights.stac``).

    Attributes:
        url: the API root, e.g. ``https://earth-search.aws.element84.com/v1``.
        collection: the collection id, e.g. ``sentinel-2-l2a``.
        datetime: an RFC 3339 interval, e.g. ``2019-01-01/2019-12-31``.
        assets: the asset names read, in model order.
        cloud_mask: ``sentinel2_scl``, ``landsat_qa_pixel`` or ``none``.
        mask_asset: the asset holding the mask (``SCL``, ``qa_pixel``), unless ``none``.
        max_cloud_cover: items with a larger ``eo:cloud_cover`` (percent) are left out.
        cloud_filter: ``server`` (the query extension, where the API declares it; else as
            ``client``) or ``client`` (filtered after paging).
        max_items: at most this many items are fetched.
        token_env: environment variable holding a bearer token, or None.
        headers_env: (header, environment variable) pairs sent with every request.
        sign: ``none`` or ``planetary_computer`` (SAS-signed asset URLs).
        retries: attempts after the first, for API calls and COG reads.
        retry_delay_s: first backoff delay; it doubles with each retry.
        timeout_s: seconds to wait for a connection or a response.
        read_threads: COG windows read at once; None: one per CPU core.
        settings: the config section named in messages (``data.tiles.stac``).
        area: the settings that decide the searched area, named when nothing is found.
    """

    url: str
    collection: str
    datetime: str
    assets: tuple[str, ...]
    cloud_mask: str = "sentinel2_scl"
    mask_asset: str | None = "SCL"
    max_cloud_cover: float = 100.0
    cloud_filter: str = "server"
    max_items: int = 2000
    token_env: str | None = None
    headers_env: tuple[tuple[str, str], ...] = ()
    sign: str = "none"
    retries: int = 5
    retry_delay_s: float = 1.0
    timeout_s: float = 60.0
    settings: str = "data.tiles.stac"
    area: str = "data.survey, data.tiles.stac.region_bbox"
    read_threads: int | None = None

    def search_terms(self) -> dict[str, Any]:
        """What decides which items a search returns (keys the acquisition cache)."""
        return {"url": self.url.rstrip("/"), "collection": self.collection,
                "datetime": self.datetime, "max_cloud_cover": self.max_cloud_cover,
                "assets": list(self.assets), "cloud_mask": self.cloud_mask,
                "mask_asset": self.mask_asset}


def request_headers(query: StacQuery) -> dict[str, str]:
    """The headers named by ``token_env`` / ``headers_env``, read from the environment now.

    Raises:
        InputDataError: a named variable is not set (its name, never a value, is given).
    """
    names = ([("Authorization", query.token_env)] if query.token_env else []) + \
        list(query.headers_env)
    headers = {}
    for header, variable in names:
        value = os.environ.get(variable)
        if not value:
            key = "token_env" if header == "Authorization" and variable == query.token_env \
                else "headers_env"
            raise InputDataError(f"environment variable {variable} ({query.settings}.{key}) is "
                                 "not set; export it before the run.")
        headers[header] = f"Bearer {value}" if variable == query.token_env else value
    return headers


def retry_policy(retries: int, delay_s: float) -> Retry:
    """urllib3 retries: connection errors, read errors and :data:`RETRY_STATUSES`, every method
    (searches are POSTs), backing off ``delay_s`` x 2^n, honouring ``Retry-After``."""
    return Retry(total=retries, connect=retries, read=retries, status=retries,
                 backoff_factor=delay_s, status_forcelist=RETRY_STATUSES, allowed_methods=None,
                 respect_retry_after_header=True, raise_on_status=True)


def exception_chain(exc: BaseException | None) -> Iterable[BaseException]:
    """``exc`` and the exceptions it was raised from or during (at most 10)."""
    seen = 0
    while exc is not None and seen < 10:
        yield exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1


def open_catalog(query: StacQuery) -> Any:
    """A ``pystac_client.Client`` on ``query.url`` with retries, headers and optional signing.

    Raises:
        InputDataError: the URL is not a STAC API (exit code 2).
        StageError: the API kept failing (5xx, 429, timeouts) after its retries (exit 4).
    """
    from pystac_client import Client

    from pipeline.tiles.stac_io import RetryingStacApiIO

    io = RetryingStacApiIO(query.retries, query.retry_delay_s, headers=request_headers(query),
                           timeout=query.timeout_s)
    modifier = _signer(query.sign)
    try:
        return Client.open(query.url, stac_io=io, modifier=modifier)
    except Exception as exc:  # pystac-client raises APIError, requests or JSON errors
        if transient(exc):
            raise kept_failing(query, query.url, exc) from exc
        raise InputDataError(f"STAC API {query.url}: cannot open it ({one_line(exc)}); check "
                             f"{query.settings}.url (the API root, not a collection or an "
                             "item)."
                             ) from exc


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure that retrying later may cure: retries exhausted on 5xx or
    429, a timeout, or an answer cut off (not a refused connection or a 404)."""
    import requests

    kinds = (requests.exceptions.RetryError, requests.exceptions.Timeout,
             requests.exceptions.ChunkedEncodingError)
    return any(isinstance(e, kinds) or getattr(e, "status_code", None) in RETRY_STATUSES
               for e in exception_chain(exc))


def kept_failing(query: StacQuery, url: str, exc: BaseException) -> StageError:
    """The one-line error for an API that kept failing: the URL, the status, the setting."""
    status = re.search(r"too many (\d{3}) error responses", str(exc))
    code = next((e.status_code for e in exception_chain(exc)
                 if getattr(e, "status_code", None)), None)
    what = (f"HTTP {status.group(1)}" if status else f"HTTP {code}" if code
            else one_line(exc))
    return StageError(f"STAC API {url} kept failing after {query.retries} retries ({what}); "
                      f"raise {query.settings}.retries or try again later.")


def _signer(sign: str) -> Any:
    if sign != "planetary_computer":
        return None
    try:
        import planetary_computer
    except ImportError as exc:
        raise InputDataError("data.tiles.stac.sign: planetary_computer needs the "
                             "`planetary-computer` package; pip install planetary-computer."
                             ) from exc
    return planetary_computer.sign_inplace


def search_items(query: StacQuery, bbox: tuple[float, float, float, float]) -> list[dict]:
    """The items of ``query`` over ``bbox`` (lon/lat), paged, cloud cover filtered, as dicts.

    Raises:
        InputDataError: bad collection, or nothing found (the message says what to loosen).
        StageError: the API kept failing after its retries (URL and status named).
    """
    client = open_catalog(query)
    check_collection(client, query)
    try:
        search = client.search(collections=[query.collection], bbox=bbox,
                               datetime=query.datetime, max_items=query.max_items,
                               limit=min(query.max_items, 100),
                               **cloud_terms(client, query))
        found = [item.to_dict() for item in search.items()]
    except Exception as exc:  # pystac-client raises APIError
        url = f"{query.url.rstrip('/')}/search"
        if transient(exc):
            raise kept_failing(query, url, exc) from exc
        raise InputDataError(f"STAC search at {url} was refused ({one_line(exc)}); check "
                             f"{query.settings}.datetime and {query.settings}.collection.") from exc
    items = [item for item in found if _cloud_cover(item) <= query.max_cloud_cover]
    if not items:
        raise InputDataError(nothing_found(query, bbox, len(found)))
    return sorted(items, key=lambda item: (item["properties"].get("datetime") or "", item["id"]))


def cloud_terms(client: Any, query: StacQuery) -> dict[str, Any]:
    """The search's cloud-cover terms for the API: a CQL2 ``filter`` where it declares the
    filter extension, else ``query`` where it declares the query extension, else none (the
    items are filtered after paging). Nothing when ``cloud_filter`` is ``client`` or the limit
    is 100."""
    from pystac_client.conformance import ConformanceClasses

    if query.cloud_filter != "server" or query.max_cloud_cover >= 100:
        return {}
    if client.conforms_to(ConformanceClasses.FILTER):
        return {"filter": {"op": "<=", "args": [{"property": "eo:cloud_cover"},
                                                query.max_cloud_cover]},
                "filter_lang": "cql2-json"}
    if client.conforms_to(ConformanceClasses.QUERY):
        return {"query": {"eo:cloud_cover": {"lte": query.max_cloud_cover}}}
    return {}


def check_collection(client: Any, query: StacQuery) -> Any:
    """The collection ``query.collection`` of the API.

    Raises:
        InputDataError: the API has no such collection (its collections are listed).
        StageError: the API kept failing.
    """
    try:
        found = client.get_collection(query.collection)
    except Exception as exc:  # pystac-client raises APIError on 404, some APIs answer nothing
        if transient(exc):
            raise kept_failing(query, f"{query.url.rstrip('/')}/collections/"
                               f"{query.collection}", exc) from exc
        found = None
    if found is None:
        raise InputDataError(f"STAC API {query.url}: collection {query.collection!r} not found; "
                             f"it has {collection_list(client)}; check "
                             f"{query.settings}.collection (or init's --collection).")
    return found


def collection_list(client: Any, shown: int = 12) -> str:
    """The API's collection ids, the first ``shown`` of them, in words."""
    try:
        ids = sorted(c.id for c in client.get_collections())
    except Exception as exc:  # the listing is a courtesy: say why it is missing
        return f"collections that could not be listed ({one_line(exc)})"
    if not ids:
        return "no collection"
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return f"{len(ids)} collection(s): {', '.join(ids[:shown])}{more}"


def _cloud_cover(item: Mapping[str, Any]) -> float:
    """``eo:cloud_cover`` in percent; items without it count as clear (0)."""
    value = item.get("properties", {}).get("eo:cloud_cover")
    return 0.0 if value is None else float(value)


def nothing_found(query: StacQuery, bbox: tuple[float, ...], cloudy: int) -> str:
    """Why a search found nothing, and which setting to loosen."""
    area = "[" + ", ".join(f"{v:.4f}" for v in bbox) + "]"
    if cloudy:
        return (f"STAC search at {query.url}: {cloudy} item(s) of {query.collection!r} over "
                f"{area} in {query.datetime}, but none with eo:cloud_cover <= "
                f"{query.max_cloud_cover}; raise {query.settings}.max_cloud_cover.")
    return (f"STAC search at {query.url}: no item of {query.collection!r} over {area} "
            f"(lon/lat) in {query.datetime}; widen {query.settings}.datetime, "
            + (f"raise {query.settings}.max_cloud_cover, " if query.max_cloud_cover < 100 else "")
            + f"or check the area ({query.area}) and the collection's extent.")


def failing_url(urls: Iterable[str], headers: Mapping[str, str], timeout_s: float) -> str:
    """``URL answered STATUS`` for the first of ``urls`` that fails a HEAD request (one try
    each), or an empty string when all answer (to name the culprit of a failed read)."""
    import requests

    for url in urls:
        try:
            response = requests.head(url, headers=dict(headers), timeout=timeout_s)
        except requests.RequestException as exc:
            return f"{url}: {one_line(exc)}"
        if response.status_code >= 400:
            return f"{url} answered HTTP {response.status_code}"
    return ""


def one_line(exc: BaseException) -> str:
    """An exception's message on one line, at most 300 characters, HTML bodies stripped."""
    text = re.sub(r"<[^>]+>", " ", str(exc) or type(exc).__name__)
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."
