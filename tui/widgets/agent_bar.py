"""The top line: product name, the agent, their live activity, and where the app is connected."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class AgentBar(Static):
    """Shows `outbound-panel  Alice Johnson (alice@example.com)  ● Available`. No bindings or messages."""

    def __init__(self) -> None:
        super().__init__(id="agent-bar")
        self._shown: Text | None = None
        self._agent: tuple[str, str, bool, str | None] | None = None
        self.delayed = False  # Twilio asked to slow down: what the screen shows of sends may be late

    def show(self, agent: str, activity: str, available: bool, as_of: str | None = None) -> None:
        """`as_of`: the time the activity was last read, when TaskRouter has stopped answering since."""
        self._agent = (agent, activity, available, as_of)
        shown = (f"● {activity}?", "dim") if as_of else (f"● {activity}", "green" if available else "red")
        line = Text.assemble(("outbound-panel", "bold"), "  ", agent, "  ", shown,
                             (f" (as of {as_of})", "yellow") if as_of else "",
                             ("  status delayed", "yellow") if self.delayed else "")
        if line != self._shown:  # an unchanged line is not redrawn: idle stays silent
            self._shown = line
            self.update(line)

    def set_delayed(self, delayed: bool) -> None:
        """Says (or stops saying) that Twilio asked to slow down, so status on screen may be late."""
        self.delayed = delayed
        if self._agent is not None:
            self.show(*self._agent)

    def connecting(self, where: str) -> None:
        self.update(Text.assemble(("outbound-panel", "bold"), "  connecting to ", where, "…"))
