"""An app on its own embedded simulator (manual clock, fixed SIDs), for pilot and snapshot tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from core.session import Session, open_session
from core.settings import Settings
from sim.server import Simulator
from sim.world import SimConfig
from tui.app import OutboundPanelApp
from tui.cli import on_simulator


class SimBackend:
    """Starts a simulator inside the app's own event loop, so sync snapshot tests can use it too."""

    def __init__(self, settings: Settings, config: SimConfig | None = None) -> None:
        self.settings = settings
        self.config = config or SimConfig(manual_clock=True, random_seed=1234, clock_start=1_780_000_000.0,
                                          customer_reply_delay=2.0, delivery_delay=0.5)
        self.simulator: Simulator | None = None

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[tuple[Session, str]]:
        async with Simulator(self.config) as simulator:
            self.simulator = simulator
            async with open_session(on_simulator(self.settings, simulator.base_url)) as session:
                yield session, "simulator"

    def app(self) -> OutboundPanelApp:
        return OutboundPanelApp(self.settings, self.connect, "the embedded Twilio simulator")
