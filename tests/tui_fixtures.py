"""An app on its own embedded simulator (manual clock, fixed SIDs, the watcher on its clock), for pilot and
snapshot tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from textual import events
from textual.app import App
from textual.keys import _character_to_key, key_to_character
from textual.pilot import Pilot
from textual.widgets import Static
from textual.worker import WorkerCancelled

from core.links import Prefill
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

    def app(self, prefill: Prefill | None = None) -> OutboundPanelApp:
        return OutboundPanelApp(self.settings, self.connect, "the embedded Twilio simulator", prefill=prefill)


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

    def done() -> bool:  # words compared, not line breaks: a long line wraps where the width says
        return " ".join(text.split()) in " ".join(shown_in(pilot.app.screen.query_one(selector, Timeline)).split())

    await advance_until(sim_of(backend), done, then=pilot.pause)


async def until(pilot: Pilot, done: Callable[[], bool], tries: int = 200) -> None:
    """Until the screen shows what `done()` looks for (workers finished, messages handled), or fails."""
    for _ in range(tries):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if done():
            return
    raise AssertionError("the screen never got there")


def text_of(app: App[None], selector: str) -> str:
    """What a Static shows, as plain text."""
    return str(app.query_one(selector, Static).render())


async def settle(pilot: Pilot) -> None:
    """Connected to Twilio (or told why not), every worker done (sending, looking up), the screen updated."""
    app = pilot.app
    for _ in range(200):
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:  # superseded by a newer one (an exclusive worker): that one is waited for next
            await pilot.pause()
            continue
        await pilot.pause()
        if not isinstance(app, OutboundPanelApp) or app.session is not None or \
                text_of(app, "#status").startswith("Could not connect"):
            return
    raise AssertionError("the app neither connected nor said why not")


async def type_text(pilot: Pilot, text: str) -> None:
    """Types `text` into the focused field as a fast typist does: every key sent at once, then the app settles.
    (pilot.press waits for the app to go idle after each key: a tenth of a second a key.) Only characters."""
    await _burst(pilot, [(char if char.isalnum() else _character_to_key(char), char) for char in text])


async def type_keys(pilot: Pilot, *keys: str) -> None:
    """Keys as the terminal delivers a burst of them (the app busy while they were typed): all at once, then the
    app settles. Keys are Textual's names: "a", "tab", "ctrl+s"."""
    await _burst(pilot, [(key, key if len(key) == 1 else key_to_character(key)) for key in keys])


async def _burst(pilot: Pilot, keys: list[tuple[str, str | None]]) -> None:
    await burst(pilot, *(events.Key(key, character) for key, character in keys))


async def burst(pilot: Pilot, *sent: events.Key | events.Paste) -> None:
    """Keys and pastes as the terminal delivers them to a busy app: all at once, then the app settles."""
    driver = pilot.app._driver
    assert driver is not None
    for event in sent:
        event.set_sender(pilot.app)
        driver.send_message(event)
    await pilot.pause()


async def paste(pilot: Pilot, text: str) -> None:
    """A bracketed paste, as the terminal delivers it: one Paste event to the app, for the focused widget."""
    pilot.app.post_message(events.Paste(text))
    await pilot.pause()


async def type_draft(pilot: Pilot, number: str, body: str) -> None:
    """From the destination (focused at start): the number, Tab past the canned chooser, the body (SMS)."""
    await type_text(pilot, number)
    await pilot.press("tab", "tab")
    await type_text(pilot, body)


@pytest.fixture
def backend(tmp_path: Path) -> SimBackend:
    """The app's backend: its own simulator, the project's settings."""
    return SimBackend(project_settings(tmp_path))

