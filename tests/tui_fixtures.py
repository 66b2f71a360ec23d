"""An app on its own embedded simulator (manual clock, fixed SIDs, the watcher on its clock), for pilot and
snapshot tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static

from core.session import Session, open_session
from core.settings import Settings
from sim.server import Simulator
from sim.world import SimConfig
from tests.live import advance_until, sim_watcher
from tests.outbound_fixtures import project_settings
from tui.app import OutboundPanelApp
from tui.cli import on_simulator
from tui.widgets.timeline import Timeline


class SimBackend:
    """Starts a simulator inside the app's own event loop, so sync snapshot tests can use it too."""

    def __init__(self, settings: Settings, config: SimConfig | None = None, simulator: Simulator | None = None) -> None:
        """`simulator`: one already running, kept across app runs (a restart); else each run starts its own."""
        self.settings = settings
        self.config = config or SimConfig(manual_clock=True, random_seed=1234, clock_start=1_780_000_000.0,
                                          customer_reply_delay=2.0, delivery_delay=0.5)
        self.simulator = simulator
        self.keep = simulator is not None

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[tuple[Session, str]]:
        async with contextlib.AsyncExitStack() as stack:
            if self.simulator is None or not self.keep:
                self.simulator = await stack.enter_async_context(Simulator(self.config))
            settings = on_simulator(self.settings, self.simulator.base_url)
            async with open_session(settings, watcher=sim_watcher(self.simulator)) as session:
                yield session, "simulator"

    def app(self) -> OutboundPanelApp:
        return OutboundPanelApp(self.settings, self.connect, "the embedded Twilio simulator")


def shown_in(timeline: Timeline) -> str:
    """What the timeline shows, as text: its lines (time and sentence) and its title and state."""
    static = timeline.query_one(Static)
    lines = [strip.text for strip in static.render_lines(static.region.reset_offset)] if static.region.area else []
    return "\n".join([str(timeline.border_title), *lines, str(timeline.border_subtitle)])


def sim_of(backend: SimBackend) -> Simulator:
    assert backend.simulator is not None
    return backend.simulator


async def until_shown(pilot: Pilot, backend: SimBackend, text: str, selector: str = "#current") -> None:
    """Moves the simulator's clock until the timeline (`selector`, on the current screen) shows `text`."""

    def done() -> bool:
        return text in shown_in(pilot.app.screen.query_one(selector, Timeline))

    await advance_until(sim_of(backend), done)
    await pilot.pause()


def text_of(app: App[None], selector: str) -> str:
    """What a Static shows, as plain text."""
    return str(app.query_one(selector, Static).render())


async def settle(pilot: Pilot) -> None:
    """Every worker done (connecting, sending, looking up), and the screen updated."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def type_draft(pilot: Pilot, number: str, body: str) -> None:
    """From the destination (focused at start): the number, Tab past the canned chooser, the body (SMS)."""
    await pilot.press(*number)
    await pilot.press("tab", "tab")
    await pilot.press(*body)


@pytest.fixture
def backend(tmp_path: Path) -> SimBackend:
    """The app's backend: its own simulator, the project's settings."""
    return SimBackend(project_settings(tmp_path))

