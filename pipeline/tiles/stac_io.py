"""pystac-client's HTTP layer with one more retry: an answer cut off in the middle of its body.

Imported when a catalog is opened (:func:`pipeline.tiles.stac_api.open_catalog`), so that the
command line starts without loading pystac-client.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from pystac_client.stac_api_io import StacApiIO

from pipeline.tiles.stac_api import exception_chain, retry_policy


class RetryingStacApiIO(StacApiIO):
    """pystac-client's HTTP layer, also retrying an answer cut off mid-body.

    urllib3's ``Retry`` covers connecting, timeouts and statuses; a connection dropped after
    the headers surfaces later, while requests reads the body, and is retried here with the
    same backoff (``retry_delay_s`` x 2^n), at most ``retries`` times.
    """

    def __init__(self, retries: int, delay_s: float, **kwargs: Any) -> None:
        super().__init__(max_retries=retry_policy(retries, delay_s), **kwargs)
        self.retries = retries
        self.delay_s = delay_s

    def request(self, href: str, *args: Any, **kwargs: Any) -> str:
        for attempt in range(self.retries):
            try:
                return super().request(href, *args, **kwargs)
            except Exception as exc:  # pystac-client wraps everything in APIError
                if not cut_off(exc):
                    raise
            time.sleep(self.delay_s * 2 ** attempt)
        return super().request(href, *args, **kwargs)


def cut_off(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) is a body cut off after the answer began."""
    return any(isinstance(e, requests.exceptions.ChunkedEncodingError)
               for e in exception_chain(exc))
