"""What the agent must know about a customer before writing: is their WhatsApp 24-hour window open, and
did they opt out of messages from this sender?

Source: the customer's own messages in our Conversations with this sender, and why:
- exact: the window opens when the customer writes, and their inbound message carries that timestamp;
- cheap: typically two requests — one ParticipantConversations list for the customer's address (every
  conversation they were in, with the sender each was bound to) and the newest messages of the newest
  conversation with this sender; older conversations (at most three in all) only when the customer did
  not write in the newer ones, and a message's receipts only when our newest message there failed;
- within Conversations, the product the panel already uses: no Messaging logs, no extra permissions;
- conservative: a customer who wrote only outside Conversations looks "closed", so the agent is steered
  to an approved template, which always goes out; free text outside the window would fail with 63016.

Opting out: Twilio's default keywords (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) block every later
message from the sender (21610) until the customer sends START, YES or UNSTOP; so the customer's newest
keyword decides, and our newest message having failed with 21610 counts too.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:  # the panel imports CustomerStatus before the first frame: twilio is not needed for it
    from core.gateway import TwilioGateway
    from core.views import MessageView, Participation

WINDOW = timedelta(hours=24)  # WhatsApp's customer service window, from the customer's last message
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})
OPTED_OUT = 21610  # Twilio's error code for a message to a number that replied STOP
MAX_CONVERSATIONS = 3  # bounds the requests: silent in the three newest counts as never having written
PAGE = 50  # newest messages read per conversation


class CustomerStatus(BaseModel):
    """The customer as Twilio last showed them, at `checked_at`."""

    model_config = ConfigDict(frozen=True)

    last_inbound: datetime | None  # when this customer last wrote to this sender, on this channel
    opted_out: bool
    checked_at: datetime
    sender: str | None = None  # our number it is about (E.164), when known

    def window_closes_at(self) -> datetime | None:
        return self.last_inbound + WINDOW if self.last_inbound is not None else None

    def window_open(self, now: datetime) -> bool:
        closes = self.window_closes_at()
        return closes is not None and now < closes

    def window_sentence(self, now: datetime) -> str:
        """"window open — closes in 3 h 12 min" (whole minutes, rounded down) or "window closed — …"."""
        closes = self.window_closes_at()
        if closes is None or now >= closes:
            return "window closed — choose an approved template"
        minutes = int((closes - now).total_seconds() // 60)
        if minutes == 0:
            return "window open — closes in less than a minute"
        hours, minutes = divmod(minutes, 60)
        left = f"{hours} h {minutes} min" if hours and minutes else f"{hours} h" if hours else f"{minutes} min"
        return f"window open — closes in {left}"


async def customer_status(gateway: TwilioGateway, address: str, proxy_address: str, now: datetime) -> CustomerStatus:
    """The customer's window and opt-out for this sender; `address` and `proxy_address` as Conversations writes
    them (`whatsapp:+1…` on WhatsApp). See the module docstring for the source."""
    participations = [p for p in await gateway.participations(address) if _same(p.proxy_address, proxy_address)]
    participations.sort(key=_newness, reverse=True)
    last_inbound: datetime | None = None
    keyword: str | None = None  # the customer's newest opt-out or opt-in keyword
    opted_out_by_failure = False
    for position, participation in enumerate(participations[:MAX_CONVERSATIONS]):
        messages = await gateway.recent_messages(participation.conversation_sid, page_size=PAGE)  # newest first
        theirs = [m for m in messages if _same(m.author, address)]
        if position == 0:
            opted_out_by_failure = await _our_message_refused(gateway, participation.conversation_sid, messages,
                                                              address)
        keyword = next((k for k in map(_keyword, theirs) if k is not None), None)
        if theirs:
            last_inbound = theirs[0].date_created
            break
    return CustomerStatus(last_inbound=last_inbound, opted_out=keyword == "out" or opted_out_by_failure,
                          checked_at=now, sender=proxy_address.removeprefix("whatsapp:"))


async def _our_message_refused(gateway: TwilioGateway, conversation_sid: str, messages: list[MessageView],
                               address: str) -> bool:
    """Whether our newest message failed with 21610 and the customer has not opted back in since."""
    ours = next((m for m in messages if not _same(m.author, address)), None)  # messages come newest first
    if ours is None or not ours.delivery or ours.delivery.get("failed", "none") == "none":
        return False
    if any(_keyword(m) == "in" for m in messages if _same(m.author, address) and m.index > ours.index):
        return False
    receipts = await gateway.receipts(conversation_sid, ours.sid)  # the only extra request, and only here
    return any(receipt.error_code == OPTED_OUT for receipt in receipts)


def _keyword(message: MessageView) -> str | None:
    """"out" for an opt-out keyword, "in" for an opt-in keyword, else None (Twilio matches the whole text)."""
    text = (message.body or "").strip().upper()
    return "out" if text in OPT_OUT_KEYWORDS else "in" if text in OPT_IN_KEYWORDS else None


def _same(address: str | None, other: str) -> bool:
    """The same address, with or without the `whatsapp:` prefix."""
    return address is not None and address.removeprefix("whatsapp:") == other.removeprefix("whatsapp:")


def _newness(participation: Participation) -> tuple[bool, float, float]:
    """The open conversation first (new messages land there), then the most recently created."""
    created, updated = participation.date_created, participation.date_updated
    return (participation.state != "closed", created.timestamp() if created else 0.0,
            updated.timestamp() if updated else 0.0)
