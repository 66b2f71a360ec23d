"""Delivery receipts: what happens to an outbound message on its way to each SMS/WhatsApp recipient.

No receipt while queued; then one receipt per non-chat recipient whose status moves every
`delivery_delay` seconds: sent → delivered (→ read on WhatsApp), or failed/undelivered with the
error code Twilio reports asynchronously (magic test numbers, 21610 to a customer who opted out,
63016 outside the WhatsApp window).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sim import seed
from sim.wire import iso

if TYPE_CHECKING:
    from sim.conversations_models import Message, Participant
    from sim.world import World

MAGIC_NUMBERS = {magic.address: magic for magic in seed.MAGIC_NUMBERS}
WHATSAPP_PREFIX = "whatsapp:"
OUTSIDE_WHATSAPP_WINDOW = 63016
OPTED_OUT = 21610  # the customer replied STOP to this sender (also magic number +15005550004)
NOT_ON_WHATSAPP = 63024  # a magic number's code that only applies to WhatsApp

# Statuses a receipt passes through on the way to each final status, for the `delivery` summary.
_REACHED = {
    "sent": ("sent", "delivered", "read", "undelivered"),
    "delivered": ("delivered", "read"),
    "read": ("read",),
    "failed": ("failed",),
    "undelivered": ("undelivered",),
}


class Template(Protocol):
    approval: str


def bare(address: str) -> str:
    """A channel address without its `whatsapp:` prefix (the phone number itself)."""
    return address.removeprefix(WHATSAPP_PREFIX)


@dataclass
class Receipt:
    sid: str
    conversation_sid: str
    message_sid: str
    participant_sid: str
    channel_message_sid: str  # SM… for SMS, MM… for WhatsApp
    status: str  # sent | delivered | read | failed | undelivered
    error_code: int | None
    date_created: float
    date_updated: float


@dataclass(frozen=True)
class Outcome:
    """The statuses one recipient's receipt will pass through, one per delivery delay."""

    steps: tuple[str, ...]
    error_code: int | None = None


def outcome_for(world: World, recipient: Participant, template: Template | None) -> Outcome:
    assert recipient.address is not None and recipient.proxy_address is not None
    whatsapp = recipient.channel == "whatsapp"
    magic = MAGIC_NUMBERS.get(bare(recipient.address))
    if magic is not None and magic.error_code is not None and (whatsapp or magic.error_code != NOT_ON_WHATSAPP):
        steps = ("failed",) if magic.status == "failed" else ("sent", magic.status)
        return Outcome(steps, magic.error_code)
    if world.customers.opted_out(recipient.address, recipient.proxy_address):
        return Outcome(("failed",), OPTED_OUT)
    if whatsapp and not world.customers.window_open(recipient.address, recipient.proxy_address):
        if template is None or template.approval != "approved":
            return Outcome(("failed",), OUTSIDE_WHATSAPP_WINDOW)
    return Outcome(("sent", "delivered", "read") if whatsapp else ("sent", "delivered"))


def summary(message: Message) -> dict[str, Any] | None:
    """The message's `delivery` field: null until a receipt exists, then all/some/none per status."""
    if not message.receipts:
        return None
    total = message.recipients

    def level(status: str) -> str:
        count = sum(1 for receipt in message.receipts if receipt.status in _REACHED[status])
        return "none" if count == 0 else "all" if count >= total else "some"

    return {"total": total, **{status: level(status) for status in _REACHED}}


class Delivery:
    """Schedules every recipient's receipt on the world clock and tells the customer when one arrives."""

    def __init__(self, world: World) -> None:
        self.world = world

    def send(self, message: Message, recipients: list[Participant], template: Template | None) -> None:
        message.recipients = len(recipients)
        delay = self.world.config.delivery_delay
        for recipient in recipients:
            outcome = outcome_for(self.world, recipient, template)
            for step, status in enumerate(outcome.steps, start=1):
                error = outcome.error_code if status in ("failed", "undelivered") else None
                self.world.clock.call_later(step * delay, self._advance, message, recipient, status, error)

    def _advance(self, message: Message, recipient: Participant, status: str, error_code: int | None) -> None:
        now = self.world.now()
        receipt = next((r for r in message.receipts if r.participant_sid == recipient.sid), None)
        if receipt is None:
            prefix = "MM" if recipient.channel == "whatsapp" else "SM"
            receipt = Receipt(
                sid=self.world.sid("DY"),
                conversation_sid=message.conversation_sid,
                message_sid=message.sid,
                participant_sid=recipient.sid,
                channel_message_sid=self.world.sid(prefix),
                status=status,
                error_code=error_code,
                date_created=now,
                date_updated=now,
            )
            message.receipts.append(receipt)
        else:
            receipt.status, receipt.error_code, receipt.date_updated = status, error_code, now
        self.world.conversations.post_event(
            "onDeliveryUpdated", message.conversation_sid, MessageSid=message.sid, DeliveryReceiptSid=receipt.sid,
            Status=status, ErrorCode=error_code, ParticipantSid=recipient.sid, DateCreated=iso(receipt.date_created),
            DateUpdated=iso(now))
        if status == "delivered":
            self.world.customers.on_delivered(message, recipient)
