"""Gateway bootstrap: the SDK's requests reach a local server through TWILIO_BASE_URL."""

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from core.twilio_client import RewritingHttpClient, close_client, make_client, open_client, rewrite_url
from core.settings import Settings, load_settings
from tests.virtual_time import hold

ACCOUNT = "AC" + "1" * 32
TOKEN = "token-Wombat-9876"
CONVERSATION = "CH" + "0" * 32


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[web.Request]]]:
    seen: list[web.Request] = []

    async def conversation(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response(
            {"sid": request.match_info["sid"], "account_sid": ACCOUNT, "friendly_name": "hello", "state": "active"}
        )

    async def slow(request: web.Request) -> web.Response:
        await hold(request, 2)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/v1/Conversations/{sid}", conversation)
    app.router.add_get("/v1/Services/{sid}", slow)
    runner = web.AppRunner(app, shutdown_timeout=0.1)  # do not wait for the slow handler
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", seen
    finally:
        await runner.cleanup()


def settings_for(base_url: str, tmp_path: Path, **extra: str) -> Settings:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "TWILIO_BASE_URL": base_url, **extra}
    return load_settings(env, tmp_path)


async def test_sdk_request_reaches_base_url(server: tuple[str, list[web.Request]], tmp_path: Path) -> None:
    base_url, seen = server
    settings = settings_for(base_url, tmp_path, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN)
    client = make_client(settings)
    try:
        conversation = await client.conversations.v1.conversations(CONVERSATION).fetch_async()
    finally:
        await close_client(client)

    assert len(seen) == 1
    assert seen[0].path == f"/v1/Conversations/{CONVERSATION}"
    scheme, _, encoded = seen[0].headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == f"{ACCOUNT}:{TOKEN}"
    assert conversation.sid == CONVERSATION
    assert conversation.friendly_name == "hello"
    assert conversation.state == "active"
    assert client.http_client.session is not None and client.http_client.session.closed


async def test_api_key_auth_and_open_client(server: tuple[str, list[web.Request]], tmp_path: Path) -> None:
    base_url, seen = server
    api_key = "SK" + "2" * 32
    settings = settings_for(
        base_url + "/", tmp_path, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_API_KEY=api_key, TWILIO_API_SECRET=TOKEN
    )
    async with open_client(settings) as client:
        await client.conversations.v1.conversations(CONVERSATION).fetch_async()
    encoded = seen[0].headers["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(encoded).decode() == f"{api_key}:{TOKEN}"
    assert client.http_client.session.closed


async def test_timeout_hook_applies(server: tuple[str, list[web.Request]], tmp_path: Path) -> None:
    base_url, _ = server
    settings = settings_for(base_url, tmp_path, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN)
    async with open_client(settings, timeout=0.2) as client:
        with pytest.raises(asyncio.TimeoutError):
            await client.conversations.v1.services("IS" + "0" * 32).fetch_async()


async def test_make_client_needs_credentials(tmp_path: Path) -> None:
    settings = settings_for("http://127.0.0.1:1", tmp_path, TWILIO_ACCOUNT_SID=ACCOUNT, TWILIO_AUTH_TOKEN=TOKEN)
    bare = settings.twilio.model_copy(update={"account_sid": None, "auth_token": None})  # past the settings' check
    with pytest.raises(ValueError, match="credentials"):
        make_client(settings.model_copy(update={"twilio": bare}))


async def test_retries_stay_off() -> None:
    http = RewritingHttpClient("http://127.0.0.1:1")
    try:
        assert type(http.session).__name__ == "ClientSession"  # not aiohttp_retry.RetryClient
    finally:
        await http.close()


@pytest.mark.parametrize(
    ("url", "base_url", "expected"),
    [
        (
            "https://conversations.twilio.com/v1/Conversations/CH1?PageSize=50&Page=1",
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/v1/Conversations/CH1?PageSize=50&Page=1",
        ),
        ("https://flex-api.twilio.com/v1/Interactions", "http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1/Interactions"),
        (
            "https://conversations.dublin.ie1.twilio.com/v1/Conversations",
            "http://localhost:9/sim",
            "http://localhost:9/sim/v1/Conversations",
        ),
        ("https://conversations.twilio.com/v1/Conversations", None, "https://conversations.twilio.com/v1/Conversations"),
        ("https://conversations.twilio.com/v1/Conversations", "", "https://conversations.twilio.com/v1/Conversations"),
        ("https://example.com/v1/Conversations", "http://127.0.0.1:8080", "https://example.com/v1/Conversations"),
        ("https://eviltwilio.com/v1/X", "http://127.0.0.1:8080", "https://eviltwilio.com/v1/X"),
    ],
)
def test_rewrite_url(url: str, base_url: str | None, expected: str) -> None:
    assert rewrite_url(url, base_url) == expected
