"""F9 in my chats: whom to hand the open chat over to — a colleague (by name) or a queue."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.text import literal

if TYPE_CHECKING:
    from core.chats import Colleague


class HandOverScreen(ModalScreen["Colleague | None"]):
    """Bindings: up/down choose, enter hands the chat over (the list's own), escape goes back. Dismisses with
    the colleague or queue chosen, or None."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Back", id="close_hand_over")]

    def __init__(self, customer: str, colleagues: list[Colleague]) -> None:
        super().__init__(id="hand-over")
        self.customer = customer
        self.colleagues = {c.sid: c for c in colleagues}

    def compose(self) -> ComposeResult:
        with Vertical(id="hand-over-box"):
            yield Static(f"Hand the chat with {self.customer} over to:", markup=False)
            yield OptionList(*[Option(literal(c.name + ("" if c.available else "  (not available)")), id=c.sid)
                               for c in self.colleagues.values()], id="colleagues")

    @on(OptionList.OptionSelected)
    def _chosen(self, selected: OptionList.OptionSelected) -> None:
        self.dismiss(self.colleagues.get(selected.option.id or ""))
