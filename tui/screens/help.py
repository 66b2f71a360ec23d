"""F1 / ?: every key of the app, with the binding id to remap it in settings."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = (
    "Type the customer's number, a message (or choose a canned one), then send in one of three "
    "modes. Tab / Shift+Tab move between fields; arrows and Enter work inside them."
)


class HelpScreen(ModalScreen[None]):
    """Bindings: escape, f1, q close it."""

    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close", id="close_help")]

    def __init__(self, keys: list[tuple[str, str, str]]) -> None:
        super().__init__(id="help")
        self.keys = keys  # (key, description, binding id)

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, header_style="bold", expand=True)
        table.add_column("Key")
        table.add_column("Does")
        table.add_column(Text("Id, to remap in [ui.keys]"))
        for key, description, binding_id in self.keys:
            table.add_row(Text(key), Text(description), Text(binding_id))
        table.add_row(Text("ctrl+p"), Text("Command palette: modes, activity, help"), Text(""))
        with VerticalScroll(id="help-box"):
            yield Static(INTRO, markup=False)
            yield Static(table)
            yield Static("Escape closes this help.", markup=False)
