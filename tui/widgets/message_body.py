"""The message text, with a live character count and, for SMS, encoding and segments."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static, TextArea

from core.models import MAX_BODY
from core.sms import sms_info


class MessageBody(Vertical):
    """A TextArea (Tab moves focus on) and a counter line below it.

    Bindings: none of its own. Messages: posts TextArea.Changed (from the inner TextArea) as the text changes.
    """

    def __init__(self) -> None:
        super().__init__(id="body-box")
        self.sms = True

    def compose(self) -> ComposeResult:
        yield TextArea(id="body", soft_wrap=True, show_line_numbers=False, tab_behavior="focus",
                       compact=True, placeholder="Type the message, or choose a canned one")
        yield Static("", id="counter", markup=False)

    @property
    def text(self) -> str:
        return self.query_one("#body", TextArea).text

    @text.setter
    def text(self, value: str) -> None:
        self.query_one("#body", TextArea).text = value

    def set_channel_sms(self, sms: bool) -> None:
        self.sms = sms
        self.recount()

    def on_text_area_changed(self, _: TextArea.Changed) -> None:
        self.recount()

    def recount(self) -> None:
        text = self.text
        line = f"{len(text)}/{MAX_BODY} characters"
        if self.sms and text:
            info = sms_info(text)
            line += f" · {info.encoding} · {info.segments} SMS segment{'s' if info.segments != 1 else ''}"
        self.query_one("#counter", Static).update(line)
