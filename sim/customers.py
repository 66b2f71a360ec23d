"""The simulated customers: their WhatsApp 24-hour windows, their opt-outs, and the replies they write back.

Both the window and the opt-out follow from the customer's own messages (seeded history included,
sim/history.py): the window is open for 24 hours after they last wrote to a sender; a message that
is only an opt-out keyword (STOP, …) blocks that sender until an opt-in keyword (START, …).

A customer replies `customer_reply_delay` seconds after one of our messages is delivered, unless
their number is a magic number that never replies or the conversation is no longer active.
Several of our messages delivered before the reply get one reply, not one each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim import seed
from sim.delivery import MAGIC_NUMBERS, bare
from sim.seed import WHATSAPP_WINDOW
from sim.wire import TwilioError

if TYPE_CHECKING:
    from sim.conversations_models import Message, Participant
    from sim.world import World

# Twilio's default opt-out management, on SMS and WhatsApp alike: the whole message, any case.
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
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
        # (customer number, our sender number) pairs the customer opted out of
        self._opted_out: set[tuple[str, str]] = set()
        # (conversation SID, customer address) -> the message the customer is about to answer
        self._replying: dict[tuple[str, str], str] = {}

    def window_open(self, address: str, proxy_address: str) -> bool:
        """Whether the customer wrote to this sender within the last 24 hours (free-form WhatsApp allowed)."""
        wrote_at = self._last_inbound.get((bare(address), bare(proxy_address)))
        return wrote_at is not None and self.world.now() - wrote_at < WHATSAPP_WINDOW

    def opted_out(self, address: str, proxy_address: str) -> bool:
        """Whether the customer replied STOP (or another opt-out keyword) to this sender and not START since."""
        return (bare(address), bare(proxy_address)) in self._opted_out

    def on_inbound(self, message: Message, writer: Participant) -> None:
        """The customer wrote to this sender: their WhatsApp window (re)opens, a keyword opts out or in."""
        assert writer.address is not None and writer.proxy_address is not None
        key = (bare(writer.address), bare(writer.proxy_address))
        # max: a message imported with an old DateCreated does not shorten the window
        self._last_inbound[key] = max(self._last_inbound.get(key, message.date_created), message.date_created)
        keyword = (message.body or "").strip().upper()
        if keyword in OPT_OUT_KEYWORDS:
            self._opted_out.add(key)
        elif keyword in OPT_IN_KEYWORDS:
            self._opted_out.discard(key)

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
