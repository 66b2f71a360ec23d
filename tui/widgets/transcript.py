"""A chat's transcript: both sides, each message with its time, mine with their delivery state, media named,
the customer's text shown as written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from core.events import summary_status
from core.phone import display
from tui.text import literal

if TYPE_CHECKING:
    from core.chats import Chat, ChatMessage


class Transcript(VerticalScroll):
    """Scrolls (its own keys); no bindings or messages of its own."""

    def __init__(self) -> None:
        super().__init__(id="transcript")

    def compose(self) -> ComposeResult:
        yield Static(id="transcript-text")

    def show(self, chat: Chat | None, messages: list[ChatMessage], scroll_end: bool = True) -> None:
        text = Text()
        if chat is not None:
            for message in messages:
                text.append_text(_line(message, chat))
                text.append("\n")
        self.query_one("#transcript-text", Static).update(text)
        if scroll_end:
            self.scroll_end(animate=False)


def customer_label(chat: Chat) -> str:
    """Their name when Flex knows one (customerName holds the number when it does not), and the number."""
    named = chat.customer_name if chat.customer_name and any(c.isalpha() for c in chat.customer_name) else None
    return f"{named} {display(chat.customer)}" if named else display(chat.customer)


def _line(message: ChatMessage, chat: Chat) -> Text:
    """A transcript line: time, who wrote it, the text as written (media named), and mine with its delivery."""
    when = message.at.astimezone().strftime("%H:%M") if message.at else "     "
    who = "You" if message.mine else (customer_label(chat) if message.from_customer else literal(message.author).plain)
    body = literal(message.body or "")
    for name in message.media:
        body.append_text(literal(f" [media: {name}]", "italic"))
    line = Text.assemble((when, "dim"), "  ", (f"{who}: ", "bold"), body)
    if message.mine:
        line.append(f"  ({summary_status(message.delivery)})", "dim")
    return line
