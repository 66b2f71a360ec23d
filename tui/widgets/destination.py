"""The customer's number: digits and + only, formatted as you type, with a valid/invalid mark."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Static

from core.errors import InvalidSend
from core.phone import display, parse_destination


class DestinationField(Horizontal):
    """An Input restricted to phone characters and a mark beside it: `✓ +1 415-555-0100` or `✗ reason`.

    Bindings: none of its own. Messages: posts Input.Changed (from the inner Input) as the number changes.
    """

    def __init__(self, region: str) -> None:
        super().__init__(id="destination-row", classes="row")
        self.phone_region = region

    def compose(self) -> ComposeResult:
        yield Static("To", classes="label")
        yield Input(placeholder="+1 415 555 0100", restrict=r"\+?[0-9]*", max_length=16,
                    id="destination", compact=True)
        yield Static("", id="destination-mark", markup=False)

    @property
    def value(self) -> str:
        return self.query_one("#destination", Input).value

    def clear(self) -> None:
        self.query_one("#destination", Input).value = ""

    def on_input_changed(self, event: Input.Changed) -> None:
        mark = self.query_one("#destination-mark", Static)
        if not event.value.strip():
            mark.update("")
            return
        try:
            number = parse_destination(event.value, self.phone_region)
        except InvalidSend as error:
            # the reason only (the whole sentence is on the "Send unavailable" line): fits beside the field at 80×24
            mark.update(Text(f"✗ invalid: {str(error).rsplit(': ', 1)[-1]}", style="red"))
        else:
            mark.update(Text(f"✓ {display(number)}", style="green"))
