"""The outbound message panel: channel, sender, destination, canned message, body, mode, send."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, RadioButton, RadioSet, Select, Static

from core.actions import SendOutboundMessagePayload
from core.models import Channel, SendMode, check_draft
from core.phone import display
from core.settings import Settings
from tui.text import literal
from tui.widgets.destination import DestinationField
from tui.widgets.message_body import MessageBody

MODE_LABELS = {
    SendMode.OPEN_CHAT: "Send and open chat",
    SendMode.WAIT_ME: "Send, route reply to me",
    SendMode.WAIT_ANY: "Send, route reply to any agent",
}


class ChannelButton(RadioButton):
    """A radio button whose state also reads without colour: ● chosen, ○ not (NO_COLOR, 16 colours).

    Bindings and messages: RadioButton's.
    """

    @property
    def _button(self):  # type: ignore[no-untyped-def]
        self.BUTTON_INNER = "●" if self.value else "○"
        return super()._button


class OutboundPanel(Vertical):
    """The draft and its send controls. Tab order: channel, sender, destination, canned, body, mode, Send.

    Bindings: none of its own (the app's keys send). Messages: SendRequested(mode) when Send is pressed.
    """

    @dataclass
    class SendRequested(Message):
        mode: SendMode

    def __init__(self, settings: Settings) -> None:
        super().__init__(id="panel")
        self.settings = settings
        self.channel = Channel.SMS if settings.senders.sms else Channel.WHATSAPP
        self.sending = False
        self.offline_as: str | None = None  # the agent's activity while they cannot send

    def compose(self) -> ComposeResult:
        senders = self.settings.senders
        yield Static("", id="offline", markup=False)
        yield Static("", id="status", markup=False)
        with Horizontal(classes="row"):
            yield Static("Channel", classes="label")
            with RadioSet(id="channel", compact=True):
                yield ChannelButton("SMS", value=self.channel is Channel.SMS, disabled=not senders.sms, id="sms")
                yield ChannelButton("WhatsApp", value=self.channel is Channel.WHATSAPP,
                                  disabled=not senders.whatsapp, id="whatsapp")
        with Horizontal(classes="row", id="sender-row"):
            yield Static("From", classes="label")
            yield Select(self._sender_options(), id="sender", allow_blank=False, compact=True)
        yield DestinationField(self.settings.ui.phone_region)
        with Horizontal(classes="row"):
            yield Static("Canned", classes="label")
            yield Select([], id="canned", prompt="Choose a canned message", compact=True)
        with Horizontal(id="body-row"):
            yield Static("Message", classes="label")
            yield MessageBody()
        with Horizontal(classes="row"):
            yield Static("Mode", classes="label")
            yield Select([(label, mode) for mode, label in MODE_LABELS.items()], id="mode", allow_blank=False,
                         value=SendMode(self.settings.ui.default_mode), compact=True)
        with Horizontal(classes="row", id="send-row"):
            yield Button("Send", id="send", compact=True)
            yield Static("", id="problem", markup=False)

    def on_mount(self) -> None:
        self._fill_channel()
        self.refresh_problem()

    # -- reading the draft ---------------------------------------------------------------------------

    @property
    def mode(self) -> SendMode:
        return SendMode(self.query_one("#mode", Select).value)

    def payload(self, mode: SendMode) -> SendOutboundMessagePayload:
        return SendOutboundMessagePayload(
            destination=self.query_one(DestinationField).value,
            caller_id=self._sender,
            channel=self.channel.value,
            body=self.query_one(MessageBody).text,
            open_chat=mode is SendMode.OPEN_CHAT,
            route_to_me=mode is SendMode.WAIT_ME,
        )

    def problem(self) -> str | None:
        """Why the draft cannot be sent now, as the agent should read it; None when it can."""
        error = check_draft(self.settings, channel=self.channel, destination=self.query_one(DestinationField).value,
                            sender=self._sender, body=self.query_one(MessageBody).text, mode=self.mode)
        return str(error) if error else None

    @property
    def _sender(self) -> str:
        sender = self.query_one("#sender", Select).value
        return str(sender) if sender is not Select.NULL else ""

    # -- showing state -------------------------------------------------------------------------------

    def refresh_problem(self) -> None:
        problem = self.problem()
        self.query_one("#send", Button).disabled = problem is not None or self.sending
        self.query_one("#problem", Static).update(literal(f"Send unavailable: {problem}", "yellow") if problem else "")

    def set_sending(self, sending: bool) -> None:
        self.sending = sending
        self.refresh_problem()

    def show_status(self, text: str, kind: str = "info") -> None:
        style = {"info": "", "progress": "italic", "success": "green", "error": "bold red"}[kind]
        self.query_one("#status", Static).update(literal(text, style))

    def set_offline(self, activity: str | None) -> None:
        """Disables the draft's controls while the agent is not available, and says how to change that."""
        if activity == self.offline_as:
            return  # nothing changed: no redraw (idle stays silent, choices stay as they are)
        self.offline_as = activity
        notice = self.query_one("#offline", Static)
        notice.display = activity is not None
        if activity is not None:
            notice.update(Text(f"You are {activity}: sending is off. Press F3 to become Available.", style="reverse"))
        for control in self.query("RadioSet, Select, Input, TextArea, Button"):
            control.disabled = activity is not None
        if activity is None:
            self.refresh_problem()

    def clear_draft(self) -> None:
        """The panel after a send: empty, ready for the next customer's number."""
        self.query_one(DestinationField).clear()
        self.query_one("#destination").focus()
        self.query_one(MessageBody).text = ""
        self.query_one("#canned", Select).clear()

    # -- reacting to the agent -----------------------------------------------------------------------

    @on(RadioSet.Changed, "#channel")
    def _channel_changed(self, event: RadioSet.Changed) -> None:
        self.channel = Channel.SMS if event.pressed.id == "sms" else Channel.WHATSAPP
        self._fill_channel()
        self.refresh_problem()

    @on(Select.Changed, "#canned")
    def _canned_chosen(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            self.query_one(MessageBody).text = str(event.value)

    @on(Select.Changed, "#sender")
    @on(Select.Changed, "#mode")
    def _selection_changed(self) -> None:
        self.refresh_problem()

    def on_input_changed(self) -> None:
        self.refresh_problem()

    def on_text_area_changed(self) -> None:
        self.refresh_problem()

    @on(Button.Pressed, "#send")
    def _send_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.SendRequested(self.mode))

    def _sender_options(self) -> list[tuple[str, str]]:
        senders = self.settings.senders.sms if self.channel is Channel.SMS else self.settings.senders.whatsapp
        return [(display(number), number) for number in senders]

    def _fill_channel(self) -> None:
        canned = self.settings.canned.sms if self.channel is Channel.SMS else self.settings.canned.whatsapp
        senders = self._sender_options()
        self.query_one("#sender", Select).set_options(senders)
        self.query_one("#sender-row").display = len(senders) > 1
        self.query_one("#canned", Select).set_options([(_first_line(text), text) for text in canned])
        self.query_one(MessageBody).set_channel_sms(self.channel is Channel.SMS)


def _first_line(text: str, width: int = 56) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 1] + "…"
