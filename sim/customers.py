"""The simulated customers: their WhatsApp 24-hour windows, their opt-outs, and the replies they write back.

Both the window and the opt-out follow from the customer's own messages (seeded history included,
sim/history.py): the window is open for 24 hours after they last wrote to a sender; a message that
is only an opt-out keyword (STOP, …) blocks that sender until an opt-in keyword (START, …).

A customer replies `customer_reply_delay` seconds after one of our messages is delivered, unless
their number is a magic number that never replies or the conversation is no longer active.
Several of our messages delivered before the reply get one reply, not one each. They answer a few
turns of a conversation (a greeting, a question, a goodbye), then nothing more.
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


def reply_text(address: str, their_message: str | None, turn: int = 0) -> str | None:
    """What the customer answers to our message in their `turn` of the conversation (0 = first): friendly,
    deterministic, quoting what they got; after a few turns they have nothing more to say (None)."""
    text = " ".join((their_message or "").split())
    quote = text if len(text) <= QUOTE_LENGTH else text[:QUOTE_LENGTH].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"
    turns = [f'Hi, this is {name_of(address)}. Thanks for your message "{quote}" Yes, I can talk now.',
             f'OK. About "{quote}": could you tell me a bit more?',
             "That works for me. Thank you, bye!"]
    return turns[turn] if turn < len(turns) else None


class Customers:
    def __init__(self, world: World) -> None:
        self.world = world
        # (customer number, our sender number) -> when the customer last wrote to that sender
        self._last_inbound: dict[tuple[str, str], float] = {}
        # (customer number, our sender number) pairs the customer opted out of
        self._opted_out: set[tuple[str, str]] = set()
        # (conversation SID, customer address) -> the message the customer is about to answer
        self._replying: dict[tuple[str, str], str] = {}
        self._turns: dict[tuple[str, str], int] = {}  # (conversation SID, customer address) -> replies written
        self._written_in = 0  # conversations customers started on their own (inbound_every)

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
        turn = self._turns.get(key, 0)
        body = reply_text(address, answered.body if answered else None, turn)
        if body is not None:
            self._turns[key] = turn + 1
            self.world.conversations.add_message(conversation_sid, author=address, body=body)

    def write_in(self, address: str, proxy_address: str, body: str) -> Message:
        """The customer writes to our number out of the blue: Twilio makes a conversation (with the inbound
        Studio flow as its webhook, as a number's address configuration does) and the flow sends it to Flex."""
        conversations = self.world.conversations
        conversation = conversations.create_conversation(friendly_name=f"Inbound from {address}")
        try:
            conversations.add_participant(conversation.sid, address=address, proxy_address=proxy_address)
        except TwilioError:
            conversations.close(conversation.sid)  # already in an open conversation with this number
            raise
        conversations.add_webhook(conversation.sid, target="studio",
                                  configuration={"flow_sid": seed.STUDIO_FLOW_SID})
        return conversations.add_message(conversation.sid, author=address, body=body)

    def write_in_now_and_then(self) -> None:
        """Every `inbound_every` seconds a seeded customer with no open conversation writes in (demos)."""
        every = self.world.config.inbound_every
        if every is None:
            return
        busy = {c.customer.address for c in self.world.conversations.conversations.values()
                if c.state != "closed" and c.customer is not None}
        free = [c for c in seed.CUSTOMERS if c.address not in busy]
        if free:
            customer = free[self._written_in % len(free)]
            self._written_in += 1
            self.write_in(customer.address, seed.SMS_SENDERS[0], f"Hi, this is {customer.name}. Can someone help me?")
        self.world.clock.call_later(every, self.write_in_now_and_then)

    def say(self, conversation_sid: str, body: str) -> Message:
        """The conversation's customer writes `body` now (tests, demos, the /_sim/ admin route)."""
        conversation = self.world.conversations.conversation(conversation_sid)
        customer = conversation.customer
        if customer is None or customer.address is None:
            raise TwilioError(400, 20001, f"Conversation {conversation.sid} has no SMS or WhatsApp participant")
        return self.world.conversations.add_message(conversation.sid, author=customer.address, body=body)
