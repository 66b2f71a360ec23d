"""The outbound message panel: channel, sender, destination, canned message or template, body, mode, send."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Input, RadioButton, RadioSet, Select, Static, TextArea

from core.actions import SendOutboundMessagePayload
from core.canned import fill, placeholder_values
from core.customer import CustomerStatus
from core.errors import InvalidSend
from core.links import Prefill
from core.models import Channel, SendMode
from core.rules import check_send
from core.phone import display, parse_destination
from core.settings import Settings
from core.templates import ContentTemplate
from tui.text import literal
from tui.widgets.destination import DestinationField
from tui.widgets.message_body import MessageBody
from tui.widgets.template_form import TemplateForm

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
    """The draft and its send controls. Tab order: channel, sender, destination, canned, template (WhatsApp),
    body or the template's variables, mode, Send.

    Bindings: none of its own (the app's keys send). Messages: SendRequested(mode) when Send is pressed;
    CustomerChosen(channel, destination, sender) when the draft names a new valid customer and sender (the
    app then looks up their WhatsApp window and opt-out, and calls set_customer).
    """

    @dataclass
    class SendRequested(Message):
        mode: SendMode

    @dataclass
    class CustomerChosen(Message):
        channel: Channel
        destination: str  # E.164
        sender: str

    def __init__(self, settings: Settings, prefill: Prefill | None = None) -> None:
        """`prefill`: the draft to open with (a click-to-message link); the cursor then waits in the message."""
        super().__init__(id="panel")
        self.settings = settings
        self.prefill = prefill
        self.channel = prefill.channel if prefill and prefill.channel else \
            Channel.SMS if settings.senders.sms else Channel.WHATSAPP
        self.sending = False
        self.draft_version = 0  # bumped by every change to the draft (the mode is not the draft)
        self.sent_version: int | None = None  # the draft_version that went out: the same draft does not go twice
        self.unknown_send_id: str | None = None  # …or that may have: its send, until a look-up says
        self.offline_as: str | None = None  # the agent's activity while they cannot send
        self._offline_refused = False  # the status line says a send was refused for that
        self._refused_at: int | None = None  # the draft_version a refusal on the status line is about
        self.agent_name = ""  # fills {agent_name} in canned messages
        self.templates: list[ContentTemplate] = []
        self.customer: CustomerStatus | None = None  # of the customer and sender now in the draft, once known
        self._customer_key: tuple[Channel, str, str] | None = None
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)  # the app gives Twilio's clock

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
        yield Static("", id="customer", markup=False)
        with Horizontal(classes="row"):
            yield Static("Canned", classes="label")
            yield Select([], id="canned", prompt="Choose a canned message", compact=True)
        with Horizontal(classes="row", id="template-row"):
            yield Static("Template", classes="label")
            yield Select([], id="template", prompt="None: free text", compact=True)
        with Horizontal(id="body-row"):
            yield Static("Message", classes="label", id="body-label")
            yield MessageBody()
            yield TemplateForm()
        with Horizontal(classes="row"):
            yield Static("Mode", classes="label")
            yield Select([(label, mode) for mode, label in MODE_LABELS.items()], id="mode", allow_blank=False,
                         value=SendMode(self.settings.ui.default_mode), compact=True)
        with Horizontal(classes="row", id="send-row"):
            yield Button("Send", id="send", compact=True)
            yield Static("", id="problem", markup=False)

    def on_mount(self) -> None:
        self._fill_channel()
        if self.prefill is not None:
            self.query_one("#destination", Input).value = self.prefill.destination
            body = self.query_one("#body", TextArea)
            body.text = self.prefill.body
            body.move_cursor(body.document.end)  # the agent goes on writing where the link's text ends
            (body if self.prefill.destination else self.query_one("#destination")).focus()
        self.refresh_problem()

    # -- reading the draft ---------------------------------------------------------------------------

    @property
    def mode(self) -> SendMode:
        return SendMode(self.query_one("#mode", Select).value)

    @property
    def template(self) -> ContentTemplate | None:
        """The template chosen (WhatsApp only), else None: free text."""
        chosen = self.query_one("#template", Select).value
        if self.channel is not Channel.WHATSAPP or chosen is Select.NULL:
            return None
        return next((t for t in self.templates if t.sid == chosen), None)

    def payload(self, mode: SendMode) -> SendOutboundMessagePayload:
        template = self.template
        return SendOutboundMessagePayload(
            destination=self.query_one(DestinationField).value,
            caller_id=self._sender,
            channel=self.channel.value,
            body=None if template else self.query_one(MessageBody).text,
            content_template_sid=template.sid if template else None,
            content_variables=self.query_one(TemplateForm).values if template else {},
            send_mode=mode,
        )

    def problem(self) -> str | None:
        """Why the draft cannot be sent now, as the agent should read it (core.rules decides); None when it can."""
        customer = self.customer if self._customer_key == self._current_customer() else None
        template = self.template
        error = check_send(self.settings, channel=self.channel, destination=self.query_one(DestinationField).value,
                           sender=self._sender, mode=self.mode, body=None if template else self.query_one(MessageBody).text,
                           content_sid=template.sid if template else None,
                           content_variables=self.query_one(TemplateForm).values if template else None,
                           customer=customer, template=template, now=self.now())
        return str(error) if error else None

    @property
    def _sender(self) -> str:
        sender = self.query_one("#sender", Select).value
        return str(sender) if sender is not Select.NULL else ""

    # -- showing state -------------------------------------------------------------------------------

    @property
    def already_sent(self) -> bool:
        """The draft went out as it is now: sending it again would send it twice."""
        return self.sent_version == self.draft_version

    def refuse(self, sentence: str) -> None:
        """A send refused for what the draft is now: said until the draft changes."""
        self.show_status(sentence, "error")
        self._refused_at = self.draft_version

    def refresh_problem(self) -> None:
        if self._refused_at is not None and self._refused_at != self.draft_version:
            self.show_status("")  # the refusal was about a draft that is no longer there
            self._refused_at = None
        problem = self.problem()
        self.query_one("#send", Button).disabled = problem is not None or self.sending
        self.query_one("#problem", Static).update(literal(f"Send unavailable: {problem}", "yellow") if problem else "")

    def set_sending(self, sending: bool) -> None:
        self.sending = sending
        self.refresh_problem()

    def show_status(self, text: str, kind: str = "info") -> None:
        style = {"info": "", "progress": "italic", "success": "green", "error": "bold red"}[kind]
        self.query_one("#status", Static).update(literal(text, style))
        self._refused_at = None  # a new sentence: not the refusal that a change of the draft takes away

    def set_offline(self, activity: str | None, available_key: str = "f3") -> None:
        """Says sending is off while the agent is not available (`activity`), and the key that changes that; the
        draft can still be written (keys are never lost to a disabled field)."""
        if activity == self.offline_as:
            return  # nothing changed: no redraw (idle stays silent)
        self.offline_as = activity
        notice = self.query_one("#offline", Static)
        notice.display = activity is not None
        if activity is not None:
            notice.update(Text(f"You are {activity}: sending is off. Press {available_key} to become Available.",
                               style="reverse"))
        elif self._offline_refused:
            self.show_status("You are Available: send when ready.", "info")  # the refusal is no longer true
        self._offline_refused = False

    def refuse_offline(self, available_key: str) -> None:
        """A send asked for while the agent is not available: nothing goes; the status says what to press."""
        self.show_status(f"You are {self.offline_as}: press {available_key} to become Available, then send.", "error")
        self._offline_refused = True

    def clear_draft(self) -> None:
        """The panel after a send: empty, ready for the next customer's number."""
        self.query_one(DestinationField).clear()
        self.query_one("#destination").focus()
        self.query_one(MessageBody).text = ""
        self.query_one("#canned", Select).clear()
        self.query_one("#template", Select).clear()

    def set_templates(self, templates: list[ContentTemplate]) -> None:
        """The account's content templates (approved first), offered on WhatsApp."""
        self.templates = templates
        chosen = self.query_one("#template", Select).value
        options = [(f"{t.name} ({t.language}) · {t.whatsapp_status}", t.sid) for t in templates]
        self.query_one("#template", Select).set_options(options)
        if any(t.sid == chosen for t in templates):
            self.query_one("#template", Select).value = chosen
        self.refresh_problem()

    def set_customer(self, key: tuple[Channel, str, str], status: CustomerStatus) -> None:
        """What Twilio says of this customer and sender: their WhatsApp window, whether they opted out."""
        if key != self._current_customer():
            return  # the draft moved on meanwhile
        self.customer, self._customer_key = status, key
        self._show_customer()
        if self.channel is Channel.WHATSAPP and not status.window_open(self.now()) and self.template is None:
            self._use_template_area(True)  # free text cannot go out: the templates take the body's place
            if self.screen.focused is self.query_one("#body"):
                self.query_one("#template").focus()
        self.refresh_problem()

    # -- reacting to the agent -----------------------------------------------------------------------

    @on(RadioSet.Changed, "#channel")
    def _channel_changed(self, event: RadioSet.Changed) -> None:
        self.draft_version += 1
        self.channel = Channel.SMS if event.pressed.id == "sms" else Channel.WHATSAPP
        self._fill_channel()
        self.refresh_problem()

    @on(Select.Changed, "#canned")
    def _canned_chosen(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL:
            customer = self._current_customer()
            values = placeholder_values(self.agent_name, display(customer[1]) if customer else None)
            self.query_one("#template", Select).clear()  # a canned text is free text
            self.query_one(MessageBody).text = fill(str(event.value), values)

    @on(Select.Changed, "#template")
    async def _template_chosen(self) -> None:
        self.draft_version += 1
        template = self.template
        await self.query_one(TemplateForm).show(template)
        closed = self.customer is not None and not self.customer.window_open(self.now())
        self._use_template_area(template is not None or (closed and self.channel is Channel.WHATSAPP))
        self.refresh_problem()

    @on(Select.Changed, "#sender")
    @on(Select.Changed, "#mode")
    def _selection_changed(self, event: Select.Changed) -> None:
        if event.select.id == "sender":
            self.draft_version += 1
        self._customer_may_have_changed()
        self.refresh_problem()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.draft_version += 1
        if event.input.id == "destination":
            self._customer_may_have_changed()
        self.refresh_problem()

    def on_text_area_changed(self) -> None:
        self.draft_version += 1
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
        self.query_one("#template-row").display = self.channel is Channel.WHATSAPP
        self.query_one("#template", Select).clear()
        self._use_template_area(False)
        self.query_one(MessageBody).set_channel_sms(self.channel is Channel.SMS)
        self._customer_may_have_changed()
        self._keep_focus_visible()

    def _keep_focus_visible(self) -> None:
        """A field hidden while it had the focus (the channel changed while keys were arriving) hands it to the next
        field shown, so the keys after it are not typed into a field nobody sees."""
        focused = self.screen.focused
        if focused is None or self not in focused.ancestors or all(w.display for w in (focused, *focused.ancestors)):
            return
        order = list(self.walk_children())
        shown = [w for w in order[order.index(focused) + 1:] if w.focusable and not w.disabled
                 and all(node.display for node in (w, *w.ancestors))]
        (shown[0] if shown else self.query_one("#destination")).focus()

    def _current_customer(self) -> tuple[Channel, str, str] | None:
        """(channel, customer's E.164 number, sender) when the draft names a valid number, else None."""
        try:
            number = parse_destination(self.query_one(DestinationField).value, self.settings.ui.phone_region)
        except InvalidSend:
            return None
        return (self.channel, number, self._sender) if self._sender else None

    def recheck_customer(self) -> None:
        """Asks again for the customer the draft names (CustomerChosen), e.g. once the app is connected."""
        self._customer_key = None
        self._customer_may_have_changed()

    def _customer_may_have_changed(self) -> None:
        key = self._current_customer()
        if key != self._customer_key:
            self.customer, self._customer_key = None, key
            self._show_customer()
            if key is not None:
                self.post_message(self.CustomerChosen(*key))

    def _show_customer(self) -> None:
        line = self.query_one("#customer", Static)
        status, now = self.customer, self.now()
        parts = []
        if status is not None and status.opted_out:
            parts.append("Opted out: this customer replied STOP")
        if status is not None and self.channel is Channel.WHATSAPP:
            parts.append(f"WhatsApp {status.window_sentence(now)}")
        line.display = bool(parts)
        style = "red" if status and (status.opted_out or not status.window_open(now)) else "green"
        line.update(Text(" · ".join(parts), style=style))

    def _use_template_area(self, on: bool) -> None:
        """The template's variables and preview take the message body's place (and back)."""
        self.query_one(MessageBody).display = not on
        self.query_one(TemplateForm).display = on
        self.query_one("#body-label", Static).update("Values" if on else "Message")


def _first_line(text: str, width: int = 56) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= width else line[: width - 1] + "…"
