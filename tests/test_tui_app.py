"""The command's wiring: no credentials → embedded simulator; wrong credentials → a sentence, no crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Static

from core.history import default_path
from sim.server import Simulator
from tests.outbound_fixtures import project_settings, settings_for
from tui.app import OutboundPanelApp
from tui.cli import connect, where

pytestmark = pytest.mark.real_time  # Textual's timers read time.monotonic


async def _shown(app: OutboundPanelApp, selector: str) -> str:
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        return str(app.query_one(selector, Static).render())


async def test_no_credentials_runs_on_the_embedded_simulator(tmp_path: Path) -> None:
    settings = project_settings(tmp_path)
    assert not settings.twilio.has_credentials
    app = OutboundPanelApp(settings, lambda: connect(settings), where(settings))
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Alice Johnson (alice@example.com)" in str(app.query_one("#agent-bar", Static).render())
        assert app.query_one("#panel").border_subtitle == "via simulator"


async def test_wrong_credentials_are_a_sentence_and_never_shown(sim: Simulator, tmp_path: Path) -> None:
    settings = settings_for(sim, tmp_path, auth_token="wrong-distinctive-token")
    app = OutboundPanelApp(settings, lambda: connect(settings), where(settings))
    shown = await _shown(app, "#status")
    assert shown.startswith(f"Could not connect to {sim.base_url}: Twilio refused the credentials (error 20003)")
    assert "wrong-distinctive-token" not in shown


async def test_the_history_file_holds_real_backends_sends_and_never_the_embedded_demos(
        sim: Simulator, tmp_path: Path) -> None:
    path = default_path()
    embedded = project_settings(tmp_path)
    async with connect(embedded) as (session, _):
        await session.send({"destination": "+14155550100", "callerId": "+15017122661", "body": "demo"})
        assert len(session.history.sends()) == 1
    assert not path.exists()  # the demo's world is gone with it: so are its sends

    real = settings_for(sim, tmp_path)  # credentials: what a real account looks like to the app
    async with connect(real) as (session, _):
        await session.send({"destination": "+14155550100", "callerId": "+15017122661", "body": "real"})
    async with connect(real) as (session, _):
        assert [r.preview for r in session.history.sends()] == ["real"]
    assert path.exists()


@pytest.mark.parametrize("damage", ["not a database", "a directory"])
async def test_a_history_file_that_cannot_be_used_is_said_as_such_not_as_a_connection_problem(
        sim: Simulator, tmp_path: Path, damage: str) -> None:
    path = default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if damage == "a directory":
        path.mkdir()
    else:
        path.write_bytes(b"\x13\x37 random bytes, no SQLite header" * 100)
    settings = settings_for(sim, tmp_path)
    app = OutboundPanelApp(settings, lambda: connect(settings), where(settings))
    shown = " ".join((await _shown(app, "#status")).split())
    assert shown.startswith(f"The history file {path} cannot be used (") and "move it away" in shown
    assert app.return_code in (None, 0)  # told, not crashed


async def test_an_outage_at_start_is_tried_again_until_it_connects(sim: Simulator, tmp_path: Path) -> None:
    sim.fault(r"/v1/Workspaces/WS[0-9a-f]+/Workers", method="GET", status=503, times=4)  # every read of the first try
    settings = settings_for(sim, tmp_path)
    app = OutboundPanelApp(settings, lambda: connect(settings), where(settings))
    app.connect_retry = 0.2
    async with app.run_test(size=(80, 24)) as pilot:
        bar = app.query_one("#agent-bar", Static)
        for _ in range(100):
            await pilot.pause(0.05)
            if "Alice Johnson (alice@example.com)" in str(bar.render()):
                break
        assert app.session is not None  # connected on the second try, without a restart
        assert "Alice Johnson (alice@example.com)" in str(bar.render())
