"""The Textual application. Until the panel lands it shows where it is connected and who the agent is."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Header, Static

from core.gateway import AgentInfo, TwilioGateway, open_client
from core.settings import Settings


class OutboundPanelApp(App[None]):
    """Bindings: q quits."""

    TITLE = "outbound-panel"
    BINDINGS = [Binding("q", "quit", "Quit", id="quit")]

    def __init__(self, settings: Settings, backend_label: str) -> None:
        super().__init__()
        self.settings = settings
        self.backend_label = backend_label

    def compose(self) -> ComposeResult:
        yield Header(icon="")
        yield Static("Connecting…", id="status", markup=False)
        yield Footer()

    async def on_mount(self) -> None:
        self.run_worker(self._connect(), exclusive=True)

    async def _connect(self) -> None:
        status = self.query_one("#status", Static)
        where = self.backend_label
        try:
            async with open_client(self.settings) as client:
                agent = await TwilioGateway(client, self.settings).fetch_agent()
        except Exception as error:  # shown, never raised: the placeholder must not crash on a bad backend
            status.update(f"Backend: {where}\nCould not reach it: {error}")
            return
        status.update(_describe(where, agent))


def _describe(where: str, agent: AgentInfo) -> str:
    return (
        f"Backend: {where}\n"
        f"Agent: {agent.full_name} ({agent.friendly_name}) — {agent.activity_name}\n\n"
        "The outbound messaging panel arrives in the next release."
    )
