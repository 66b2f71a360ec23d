"""F4: my outbound list — every send of this agent with its state; the highlighted one's timeline below."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from core.events import StatusEvent
from core.history import SendRecord
from tui.text import literal
from tui.widgets.timeline import Timeline

Events = Callable[[str], list[StatusEvent]]  # a send's events, by its message SID


class SendsScreen(Screen[str | None]):
    """Bindings: up/down choose a send (its timeline shows below), enter (the list's own) shows it on the
    main screen, escape / f4 go back. Dismisses with the chosen send's message SID, or None."""

    BINDINGS = [Binding("escape,f4", "dismiss(None)", "Back", id="close_sends")]

    def __init__(self, records: list[SendRecord], events: Events, agent_sid: str) -> None:
        super().__init__(id="sends")
        self.records = {record.message_sid: record for record in records}
        self.events = events
        self.agent_sid = agent_sid

    def compose(self) -> ComposeResult:
        yield Static(id="sends-title", markup=False)
        options = [Option(_row(record), id=sid) for sid, record in self.records.items()]
        yield OptionList(*options, id="sends-list")
        yield Timeline(self.agent_sid, id="sends-timeline")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        listing = self.query_one(OptionList)
        self._retitle()
        listing.highlighted = 0 if self.records else None
        listing.focus()

    def _retitle(self) -> None:
        title = (f"My outbound messages ({len(self.records)}): Enter shows one under the panel" if self.records
                 else "No outbound messages yet: the ones you send appear here.")
        self.query_one("#sends-title", Static).update(title)

    def update(self, record: SendRecord) -> None:
        """A send changed (or is new): its row, and the timeline when it is the one shown."""
        listing = self.query_one(OptionList)
        if record.message_sid in self.records:
            self.records[record.message_sid] = record
            listing.replace_option_prompt(record.message_sid, _row(record))
        else:  # a new send goes first, as in the history; the highlight stays on the send it was on
            self.records = {record.message_sid: record, **self.records}
            highlighted = listing.highlighted
            listing.clear_options()
            listing.add_options([Option(_row(r), id=sid) for sid, r in self.records.items()])
            listing.highlighted = 0 if highlighted is None else highlighted + 1
            self._retitle()
        self._show_highlighted()

    @on(OptionList.OptionHighlighted)
    def _show_highlighted(self) -> None:
        listing = self.query_one(OptionList)
        if listing.highlighted is None:
            return
        sid = listing.get_option_at_index(listing.highlighted).id
        if sid is not None:
            self.query_one(Timeline).show(self.records[sid], self.events(sid))

    @on(OptionList.OptionSelected)
    def _chosen(self) -> None:
        self.dismiss(self.query_one(Timeline).message_sid)


SHORT_MODES = {"open_chat": "chat", "wait_me": "to me", "wait_any": "to any"}
CHANNELS = {"sms": "SMS", "whatsapp": "WA"}


def _row(record: SendRecord) -> Text:
    """One line, cut with … rather than wrapped: when, who, channel, mode, state."""
    when = record.sent_at.astimezone().strftime("%d %b %H:%M")
    row = Text.assemble((when, "dim"), " ", literal(f"{record.customer_label:<16}"), " ",
                        f"{CHANNELS[record.channel]:<3} {SHORT_MODES[record.mode]:<6} ", literal(record.state, "bold"))
    row.no_wrap, row.overflow = True, "ellipsis"
    return row
