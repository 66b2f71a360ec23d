"""The seeded past: one closed conversation per seeded customer, dated before the world began.

What a real account would hold: our message, then the customer's answer (seed.CUSTOMERS). The
customer's messages go through the same bookkeeping as live ones (Customers.on_inbound), so their
WhatsApp window and opt-out follow from what the API shows. Nothing is scheduled: no Studio,
no delivery, no reply. Closed conversations hold no binding, so new ones with the same customer
and sender can be created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim import seed
from sim.conversations_models import Conversation, Message, Participant
from sim.conversations_rules import binding_channel
from sim.delivery import WHATSAPP_PREFIX, Receipt
from sim.flex import flex_identity

if TYPE_CHECKING:
    from sim.world import World


def seed_history(world: World) -> None:
    for customer in seed.CUSTOMERS:
        for past in customer.history:
            _past_conversation(world, customer, past)


def _on_channel(number: str, channel: str) -> str:
    return WHATSAPP_PREFIX + number if channel == "whatsapp" else number


def _n(sid: str) -> int:
    """The number in a fixed SID: every other SID of the conversation derives from it."""
    return int(sid[2:], 16)


def _past_conversation(world: World, customer: seed.Customer, past: seed.PastConversation) -> None:
    began = world.now()
    oldest, newest = began - past.messages[0].age, began - past.messages[-1].age
    conversation = Conversation(sid=past.sid, unique_name=None, friendly_name=customer.name, attributes="{}",
                                state="closed", date_created=oldest, date_updated=newest)
    address, proxy_address = _on_channel(customer.address, past.channel), _on_channel(past.sender, past.channel)
    participant = Participant(
        sid=seed.fixed_sid("MB", _n(past.sid)), conversation_sid=past.sid, identity=None, address=address,
        proxy_address=proxy_address, channel=binding_channel(address, proxy_address),
        date_created=oldest, date_updated=oldest,
    )
    conversation.participants[participant.sid] = participant
    for index, past_message in enumerate(past.messages):
        message = _past_message(conversation, participant, past, index, began - past_message.age, past_message)
        if past_message.from_customer:
            world.customers.on_inbound(message, participant)
    world.conversations.conversations[conversation.sid] = conversation


def _past_message(conversation: Conversation, customer: Participant, past: seed.PastConversation, index: int,
                  at: float, past_message: seed.PastMessage) -> Message:
    """Stored as it was: no Studio, no delivery now; ours carries its final receipt (delivered, or read)."""
    n = _n(past.sid) * 0x100 + index  # unique per conversation and message
    assert customer.address is not None
    message = Message(
        sid=seed.fixed_sid("IM", n), conversation_sid=conversation.sid, index=index,
        author=customer.address if past_message.from_customer else flex_identity(past.agent),
        body=past_message.body, content_sid=None,
        participant_sid=customer.sid if past_message.from_customer else None,
        date_created=at, date_updated=at,
    )
    if not past_message.from_customer:
        whatsapp = past.channel == "whatsapp"
        message.recipients = 1
        message.receipts.append(Receipt(
            sid=seed.fixed_sid("DY", n), conversation_sid=conversation.sid, message_sid=message.sid,
            participant_sid=customer.sid, channel_message_sid=seed.fixed_sid("MM" if whatsapp else "SM", n),
            status="read" if whatsapp else "delivered", error_code=None, date_created=at, date_updated=at,
        ))
    conversation.messages.append(message)
    conversation.next_index = index + 1
    return message
