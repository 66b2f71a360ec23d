"""What a send is and what it did: validated before any Twilio call."""

from __future__ import annotations

import json
import re
import uuid
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.canned import spoken_list, unfilled
from core.errors import InvalidSend
from core.phone import as_e164, display, parse_destination
from core.settings import SendersSettings

MAX_BODY = 1600  # Twilio's limit for a Conversations message body
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")


class Channel(StrEnum):
    SMS = "sms"
    WHATSAPP = "whatsapp"


_CHANNEL_NAMES = {Channel.SMS: "an SMS", Channel.WHATSAPP: "a WhatsApp"}


class SendMode(StrEnum):
    OPEN_CHAT = "open_chat"  # a chat task for me now, then the message
    WAIT_ME = "wait_me"  # the message; the customer's reply is routed to me
    WAIT_ANY = "wait_any"  # the message; the customer's reply is routed to any agent


class SendRequest(BaseModel):
    """A send that passed validation: E.164 numbers, a configured sender, a body or a template."""

    model_config = ConfigDict(frozen=True)

    channel: Channel
    destination: str  # E.164, no channel prefix
    sender: str  # E.164, one of the configured senders for the channel
    mode: SendMode
    body: str | None = None
    content_sid: str | None = None
    content_variables: dict[str, str] = Field(default_factory=dict)
    customer_name: str | None = None
    # marks what this send posts (message attribute outboundSendId): a lost answer or a crash is settled by it
    send_id: str = Field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def address(self) -> str:
        """The customer's address as Conversations writes it (WhatsApp addresses carry a prefix)."""
        return f"whatsapp:{self.destination}" if self.channel is Channel.WHATSAPP else self.destination

    @property
    def proxy_address(self) -> str:
        return f"whatsapp:{self.sender}" if self.channel is Channel.WHATSAPP else self.sender

    @property
    def customer_label(self) -> str:
        """The customer's name, or their number formatted for people — never a made-up "Customer"."""
        return self.customer_name or display(self.destination)


class SendResult(BaseModel):
    """What a send did. `holder` names the agent of a live task when the message went into their chat."""

    request: SendRequest  # what was sent, to whom
    conversation_sid: str
    message_sid: str
    reused: bool = False
    interaction_sid: str | None = None
    task_sid: str | None = None
    holder: str | None = None

    @property
    def mode(self) -> SendMode:
        return self.request.mode


def body_problem(body: str, channel: Channel | str) -> InvalidSend | None:
    """Why this text cannot be a message (a new one or a reply in a chat), or None."""
    if not body.strip():
        other = " (or choose a template)" if Channel(channel) is Channel.WHATSAPP else ""
        return InvalidSend("body", f"Write a message{other} before sending.")
    if len(body) > MAX_BODY:
        return InvalidSend("body", f"The message is {len(body)} characters; Twilio accepts at most {MAX_BODY}.")
    if names := unfilled(body):
        return InvalidSend("body", f"Replace {spoken_list(['{' + name + '}' for name in names])} in the message "
                                   "before sending.")
    return None


def prepare_send(
    *,
    channel: Channel | str,
    destination: str,
    sender: str,
    mode: SendMode | str,
    senders: SendersSettings,
    body: str | None = None,
    content_sid: str | None = None,
    content_variables: dict[str, str] | None = None,
    customer_name: str | None = None,
    region: str = "US",
) -> SendRequest:
    """Checks everything that can be checked without Twilio; raises InvalidSend with the reason.

    `region` (ISO 3166 code) is the country assumed for a destination typed without +country code."""
    channel = Channel(channel)
    customer = parse_destination(destination, region)
    configured = senders.sms if channel is Channel.SMS else senders.whatsapp
    sender = as_e164(sender.removeprefix("whatsapp:").strip())
    if sender not in configured:
        known = ", ".join(display(s) for s in configured) or "none configured"
        raise InvalidSend("sender", f"{display(sender)} is not {_CHANNEL_NAMES[channel]} sender here (senders: {known}).")
    text = body if body and body.strip() else None
    if content_sid and text:
        raise InvalidSend("body", "Send either a message or a template, not both.")
    if content_sid is not None and not _CONTENT_SID.fullmatch(content_sid):
        raise InvalidSend("template", f"{content_sid!r} is not a content template SID (HX followed by 32 hex digits).")
    if not content_sid:
        if problem := body_problem(body or "", channel):
            raise problem
    # Twilio refuses a blank variable (21656) rather than falling back to the template's default
    elif blank := [name for name, value in (content_variables or {}).items() if not value.strip()]:
        raise InvalidSend("template", f"Fill in {spoken_list(['{{' + name + '}}' for name in blank])}.")
    return SendRequest(
        channel=channel,
        destination=customer,
        sender=sender,
        mode=SendMode(mode),
        body=text,
        content_sid=content_sid or None,
        content_variables=content_variables or {},
        customer_name=customer_name,
    )


def json_object(text: str | None) -> dict[str, Any]:
    """A JSON object from Twilio's attribute strings; anything else reads as {}."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class Reply(BaseModel):
    """A reply in a chat, as the journal keeps it while it is on its way."""

    send_id: str
    conversation_sid: str
    customer: str  # the customer's number, for the sentence
    body: str  # the text, or the template's rendering: the draft given back if it did not go
    template: bool = False  # a content template: nothing to give back as free text
