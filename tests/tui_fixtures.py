"""An app on its own embedded simulator (manual clock, fixed SIDs), for pilot and snapshot tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from core.session import Session, open_session
from core.settings import Settings, load_settings
from sim import seed
from sim.server import Simulator
from sim.world import SimConfig
from tui.app import OutboundPanelApp


def panel_settings(tmp_path: Path, **groups: dict[str, Any]) -> Settings:
    """Project defaults, nothing from this machine, with `groups` overriding keys, e.g. ui={"keep_draft_after_send": True}."""
    settings = load_settings(env={"XDG_CONFIG_HOME": str(tmp_path)}, cwd=tmp_path)
    updates = {name: getattr(settings, name).model_copy(update=values) for name, values in groups.items()}
    return settings.model_copy(update=updates)


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
            twilio = self.settings.twilio.model_copy(update={
                "account_sid": seed.ACCOUNT_SID, "auth_token": SecretStr(seed.DEMO_AUTH_TOKEN),
                "base_url": simulator.base_url})
            async with open_session(self.settings.model_copy(update={"twilio": twilio})) as session:
                yield session, "simulator"

    def app(self) -> OutboundPanelApp:
        return OutboundPanelApp(self.settings, self.connect, "the embedded Twilio simulator")
