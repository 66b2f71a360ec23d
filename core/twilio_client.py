"""The twilio SDK's client, pointed at TWILIO_BASE_URL when set (contract §7.2).

Subclassed only to rewrite https://*.twilio.com, send Basic auth as a header (aiohttp 3.14
deprecates `auth=`) and apply a per-request timeout the SDK ignores. Its retry is never enabled:
it re-sends POST creates on any 5xx.
"""

import base64
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from core.settings import Settings


def rewrite_url(url: str, base_url: str | None) -> str:
    """Send `https://<anything>.twilio.com/<path>?<query>` to `<base_url>/<path>?<query>`."""
    if not base_url:
        return url
    parts = urlsplit(url)
    if parts.scheme != "https" or not (parts.hostname or "").endswith(".twilio.com"):
        return url
    return base_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


class RewritingHttpClient(AsyncTwilioHttpClient):
    """The SDK's async HTTP client, pointed at `base_url` when one is given (contract §7.2 A)."""

    def __init__(self, base_url: str | None = None, timeout: float | None = None) -> None:
        # max_retries stays unset: the SDK would re-send POST creates on any 5xx (contract §7.6)
        super().__init__(timeout=timeout)
        self.base_url = base_url
        self._retry_after: dict[str, float] = {}  # "METHOD /path" -> a 429's Retry-After, until taken

    def take_retry_after(self, method: str, uri: str) -> float | None:
        """The Retry-After of the 429 answered to this request (`uri` as the SDK's error names it: the path
        after the version). The SDK's create/fetch errors drop the response headers, so they are noted here."""
        for key in list(self._retry_after):
            if key.startswith(f"{method.upper()} ") and uri and key.endswith(uri):
                return self._retry_after.pop(key)
        return None

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if auth is not None:
            # our own header, not aiohttp's auth=/BasicAuth, both deprecated in aiohttp 3.14 (contract §7.1)
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers = {**(headers or {}), "Authorization": f"Basic {token}"}
        # Timeout hook (contract §7.1): generated SDK code never passes `timeout`, so the
        # constructor's value is applied here; None means no timeout, as in the SDK.
        response = await super().request(
            method,
            rewrite_url(url, self.base_url),
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects,
        )
        if response.status_code == 429:
            with contextlib.suppress(KeyError, TypeError, ValueError):  # no header, or not seconds
                self._retry_after[f"{method.upper()} {urlsplit(url).path}"] = float(response.headers["Retry-After"])
        return response


def make_client(settings: Settings, timeout: float | None = None) -> Client:
    """A Twilio client with an async HTTP client. Call inside a running event loop (contract §7.1)."""
    twilio = settings.twilio
    if not twilio.has_credentials:
        raise ValueError("make_client needs Twilio credentials (account SID + auth token or API key pair)")
    username, password = twilio.credentials()
    return Client(
        username,
        password.get_secret_value(),
        account_sid=twilio.account_sid,
        # the SDK still honours TWILIO_REGION/TWILIO_EDGE; rewrite_url copes with those hosts too
        http_client=RewritingHttpClient(base_url=twilio.base_url, timeout=timeout),
    )


async def close_client(client: Client) -> None:
    """Close the client's aiohttp session."""
    http = client.http_client
    if isinstance(http, AsyncTwilioHttpClient):
        await http.close()


@asynccontextmanager
async def open_client(settings: Settings, timeout: float | None = None) -> AsyncIterator[Client]:
    """`async with open_client(settings) as client:` — make_client plus close_client."""
    client = make_client(settings, timeout)
    try:
        yield client
    finally:
        await close_client(client)
