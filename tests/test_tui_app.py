"""The app starts, reaches the backend through core, and shows who the agent is."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from core.settings import Settings, load_settings
from sim import seed
from sim.server import Simulator
from tui.app import OutboundPanelApp
from tui.cli import backend


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env={"XDG_CONFIG_HOME": str(tmp_path)}, cwd=tmp_path)


def _connected(settings: Settings, base_url: str, token: str = seed.DEMO_AUTH_TOKEN) -> Settings:
    twilio = settings.twilio.model_copy(
        update={"account_sid": seed.ACCOUNT_SID, "auth_token": SecretStr(token), "base_url": base_url}
    )
    return settings.model_copy(update={"twilio": twilio})


async def _status_text(app: OutboundPanelApp) -> str:
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        return str(app.query_one("#status").render())


async def test_app_shows_the_agent_and_activity_from_the_simulator(sim: Simulator, settings: Settings) -> None:
    text = await _status_text(OutboundPanelApp(_connected(settings, sim.base_url), sim.base_url))
    assert "Alice Johnson (alice@example.com) — Available" in text
    assert sim.base_url in text


async def test_wrong_credentials_are_shown_not_raised(sim: Simulator, settings: Settings) -> None:
    text = await _status_text(OutboundPanelApp(_connected(settings, sim.base_url, token="wrong-token"), sim.base_url))
    assert "Could not reach it" in text
    assert "wrong-token" not in text


async def test_no_credentials_starts_the_embedded_simulator(settings: Settings) -> None:
    assert not settings.twilio.has_credentials
    async with backend(settings) as (connected, label):
        assert connected.twilio.base_url is not None and connected.twilio.base_url.startswith("http://127.0.0.1:")
        text = await _status_text(OutboundPanelApp(connected, label))
    assert "Alice Johnson" in text
    assert "embedded Twilio simulator (http://127.0.0.1:" in text
