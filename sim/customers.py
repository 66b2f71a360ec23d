"""The simulated customers: their WhatsApp 24-hour windows, and the replies they write back.

A customer replies `customer_reply_delay` seconds after one of our messages is delivered, unless
their number is a magic number that never replies or the conversation is no longer active.
Several of our messages delivered before the reply get one reply, not one each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim import seed
from sim.delivery import MAGIC_NUMBERS, bare
from sim.wire import TwilioError

if TYPE_CHECKING:
    from sim.conversations_models import Message, Participant
    from sim.world import World

WHATSAPP_WINDOW = 24 * 3600.0
SEEDED_INBOUND_AGE = 2 * 3600.0  # seeded customers with an open window wrote this long before the world began
QUOTE_LENGTH = 40
NAMES = {customer.address: customer.name for customer in seed.CUSTOMERS}


def name_of(address: str) -> str:
    return NAMES.get(bare(address), "a customer")


def reply_text(address: str, their_message: str | None) -> str:
    """What the customer answers: friendly, deterministic, naming them and quoting what they got."""
    text = " ".join((their_message or "").split())
    quote = text if len(text) <= QUOTE_LENGTH else text[:QUOTE_LENGTH].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"
    return f'Hi, this is {name_of(address)}. Thanks for your message "{quote}" Yes, I can talk now.'


class Customers:
    def __init__(self, world: World) -> None:
        self.world = world
        # (customer number, our sender number) -> when the customer last wrote to that sender
        self._last_inbound: dict[tuple[str, str], float] = {}
        # (conversation SID, customer address) -> the message the customer is about to answer
        self._replying: dict[tuple[str, str], str] = {}
        wrote_at = world.now() - SEEDED_INBOUND_AGE
        for customer in seed.CUSTOMERS:
            if customer.whatsapp_window_open:
                for sender in seed.WHATSAPP_SENDERS:
                    self._last_inbound[(customer.address, sender)] = wrote_at

    def window_open(self, address: str, proxy_address: str) -> bool:
        """Whether the customer wrote to this sender within the last 24 hours (free-form WhatsApp allowed)."""
        wrote_at = self._last_inbound.get((bare(address), bare(proxy_address)))
        return wrote_at is not None and self.world.now() - wrote_at < WHATSAPP_WINDOW

    def on_inbound(self, address: str, proxy_address: str) -> None:
        """The customer wrote to this sender: their WhatsApp window (re)opens for 24 hours."""
        self._last_inbound[(bare(address), bare(proxy_address))] = self.world.now()

    def on_delivered(self, message: Message, recipient: Participant) -> None:
        """Our message reached the customer's handset: they answer after a while, if they ever do."""
        assert recipient.address is not None
        magic = MAGIC_NUMBERS.get(bare(recipient.address))
        key = (message.conversation_sid, recipient.address)
        if (magic is not None and not magic.replies) or key in self._replying:
            return
        self._replying[key] = message.sid
        self.world.clock.call_later(self.world.config.customer_reply_delay, self._reply, key)

    def _reply(self, key: tuple[str, str]) -> None:
        conversation_sid, address = key
        message_sid = self._replying.pop(key)
        conversation = self.world.conversations.conversations.get(conversation_sid)
        if conversation is None or conversation.state != "active":
            return
        if not any(p.address == address for p in conversation.participants.values()):
            return  # removed from the conversation meanwhile
        answered = next((m for m in conversation.messages if m.sid == message_sid), None)
        body = reply_text(address, answered.body if answered else None)
        self.world.conversations.add_message(conversation_sid, author=address, body=body)

    def say(self, conversation_sid: str, body: str) -> Message:
        """The conversation's customer writes `body` now (tests, demos, the /_sim/ admin route)."""
        conversation = self.world.conversations.conversation(conversation_sid)
        customer = conversation.customer
        if customer is None or customer.address is None:
            raise TwilioError(400, 20001, f"Conversation {conversation.sid} has no SMS or WhatsApp participant")
        return self.world.conversations.add_message(conversation.sid, author=customer.address, body=body)
