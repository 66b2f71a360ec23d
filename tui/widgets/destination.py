"""The customer's number: digits and + only, formatted as you type, with a valid/invalid mark."""

from __future__ import annotations

import re

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Static

from core.errors import InvalidSend
from core.phone import display, number_from_paste, parse_destination


class PhoneInput(Input):
    """Keys: digits and a leading + only. A paste keeps what a number is made of, whatever the CRM it came from
    wrapped it in (spaces, dashes, brackets, invisible marks, full-width digits) and says what it left out."""

    def __init__(self) -> None:
        super().__init__(placeholder="+1 415 555 0100", restrict=r"\+?[0-9]*", max_length=16, id="destination",
                         compact=True)

    def _on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()  # not Input's own paste, which drops the whole paste when one character is off
        numbers = [line for line in event.text.splitlines() if number_from_paste(line)[0]]
        if len(numbers) > 1:
            self.notify(f"Not pasted into To: the paste holds {len(numbers)} numbers, one a line; paste one.",
                        severity="warning", markup=False)
            return
        number, dropped = number_from_paste(event.text)
        if not number:
            self.notify(f"Nothing to paste into To: {event.text.strip()[:40]!r} holds no digits.",
                        severity="warning", markup=False)
            return
        start, end = sorted(self.selection)
        joined = self.value[:start] + number + self.value[end:]
        if number.startswith("+") or re.fullmatch(self.restrict or "", joined) is None or len(joined) > self.max_length:
            joined = number  # a whole number: it replaces what was there
        if len(joined) > self.max_length:
            self.notify(f"Not pasted into To: {number} has more digits than any phone number.", severity="warning",
                        markup=False)
            return
        self.value = joined
        self.cursor_position = len(joined) if joined == number else start + len(number)
        if dropped:
            self.notify(f"Pasted {number} into To; left out {dropped!r} (not part of a phone number).",
                        severity="warning", markup=False)


class DestinationField(Horizontal):
    """An Input restricted to phone characters and a mark beside it: `✓ +1 415-555-0100` or `✗ reason`.

    Bindings: none of its own. Messages: posts Input.Changed (from the inner Input) as the number changes.
    """

    def __init__(self, region: str) -> None:
        super().__init__(id="destination-row", classes="row")
        self.phone_region = region

    def compose(self) -> ComposeResult:
        yield Static("To", classes="label")
        yield PhoneInput()
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
