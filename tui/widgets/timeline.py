"""The life of one send, newest last: when, and what happened. Customer text is shown literally."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from core.events import StatusEvent
from core.history import SendRecord
from core.status_text import event_line
from tui.text import literal

CHANNEL_NAMES = {"sms": "SMS", "whatsapp": "WhatsApp"}
MODE_NAMES = {"open_chat": "chat opened", "wait_me": "reply to me", "wait_any": "reply to any agent"}
EMPTY = "No send yet. After a send, its delivery, the customer's reply and the task appear here."


class Timeline(VerticalScroll):
    """One send's events with their local times, newest last, scrolled to the newest.

    Bindings: VerticalScroll's (arrows, page keys). Messages: none.
    """

    def __init__(self, agent_sid: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id, classes="timeline")
        self.agent_sid = agent_sid  # whose "you" this is
        self.message_sid: str | None = None  # the send shown
        self._shown: object = None

    def compose(self) -> ComposeResult:
        yield Static(EMPTY, markup=False)

    def show(self, record: SendRecord | None, events: list[StatusEvent], offer_hint: str | None = None) -> None:
        """Shows this send (None: none yet) and its events; `offer_hint` says how to answer a task offer."""
        shown = (record, tuple(events), offer_hint)
        if shown == self._shown:
            return  # nothing new: no redraw (idle stays silent)
        self._shown = shown
        self.message_sid = record.message_sid if record else None
        if record is None:
            self.query_one(Static).update(EMPTY)
            return
        self.border_title = literal(f"{record.customer_label} · {CHANNEL_NAMES[record.channel]} · "
                                    f"{MODE_NAMES[record.mode]}")
        self.border_subtitle = literal(record.state)
        table = Table.grid(padding=(0, 2), expand=True)
        table.add_column(no_wrap=True, style="dim")
        table.add_column(ratio=1, overflow="fold")
        for event in events:
            style = _STYLES.get(getattr(event, "status", event.type), "")
            table.add_row(event.at.astimezone().strftime("%H:%M:%S"), literal(event_line(event, self.agent_sid), style))
        if offer_hint:
            table.add_row("", Text(offer_hint, style="reverse"))
        self.query_one(Static).update(table)
        self.call_after_refresh(self.scroll_end, animate=False)  # once the new lines are laid out


_STYLES = {"failed": "bold red", "undelivered": "bold red", "customer_replied": "bold", "delivered": "green",
           "read": "green", "reserved": "yellow", "assigned": "green"}
