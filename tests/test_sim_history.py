"""The seeded past (closed conversations from before the world began) and opt-out keywords, through the twilio SDK.

What the product reads before an agent writes: the customer's newest inbound message to a sender
(ParticipantConversations, then Messages?Order=desc) for the WhatsApp 24-hour window, and whether
they replied STOP. The world starts at START on a manual clock.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from twilio.rest import Client

from sim import seed
from sim.customers import OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS
from sim.server import Simulator
from sim.world import SimConfig, World

JANE, OMAR, MEI, SAM = seed.CUSTOMERS
SMS_SENDER, OTHER_SMS_SENDER = seed.SMS_SENDERS
WA_SENDER = seed.WHATSAPP_SENDERS[0]
START = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
DELAY = 0.5


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(manual_clock=True, random_seed=1234, customer_reply_delay=2.0, delivery_delay=DELAY,
                     clock_start=START.timestamp())


def wa(number: str) -> str:
    return f"whatsapp:{number}"


async def records_for(client: Client, address: str) -> list[Any]:
    return await client.conversations.v1.participant_conversations.list_async(address=address)


async def newest_from(client: Client, address: str, proxy_address: str) -> Any | None:
    """The customer's newest message to this sender, found the way the product looks for it."""
    for record in await records_for(client, address):
        if (record.participant_messaging_binding or {}).get("proxy_address") != proxy_address:
            continue
        conversation = client.conversations.v1.conversations(record.conversation_sid)
        messages = await conversation.messages.list_async(order="desc")
        found = next((m for m in messages if m.author == address), None)
        if found is not None:
            return found
    return None


async def conversation_with(client: Client, address: str, proxy_address: str) -> str:
    participant = json.dumps({"messaging_binding": {"address": address, "proxy_address": proxy_address}})
    created = await client.conversations.v1.conversation_with_participants.create_async(participant=[participant])
    return created.sid


async def send(client: Client, sid: str, body: str) -> str:
    return (await client.conversations.v1.conversations(sid).messages.create_async(
        author="alice@example.com", body=body)).sid


async def receipts(client: Client, sid: str, message_sid: str) -> list[tuple[str, int | None]]:
    found = await client.conversations.v1.conversations(sid).messages(message_sid).delivery_receipts.list_async()
    return [(r.status, r.error_code) for r in found]


async def authors(client: Client, sid: str) -> list[str]:
    return [m.author for m in await client.conversations.v1.conversations(sid).messages.list_async()]


# -- the seeded past -------------------------------------------------------------------------


async def test_janes_whatsapp_history_is_a_closed_conversation_holding_her_binding(client: Client) -> None:
    [record] = await records_for(client, wa(JANE.address))
    assert record.conversation_state == "closed"
    binding = record.participant_messaging_binding
    assert (binding["type"], binding["address"], binding["proxy_address"]) == (
        "whatsapp", wa(JANE.address), wa(WA_SENDER))
    assert (record.conversation_date_created, record.conversation_date_updated) == (
        START - timedelta(hours=3), START - timedelta(hours=2))
    ours, hers = await client.conversations.v1.conversations(record.conversation_sid).messages.list_async()
    assert (ours.author, ours.date_created, ours.delivery["read"]) == (
        "bob_40example_2Ecom", START - timedelta(hours=3), "all")
    assert (hers.author, hers.participant_sid, hers.body) == (
        wa(JANE.address), record.participant_sid, "Hi, can someone call me back about my order?")


@pytest.mark.parametrize("customer, hours", [(JANE, 2), (OMAR, 30), (MEI, 2)], ids=["Jane", "Omar", "Mei"])
async def test_the_newest_customer_message_dates_the_window(
    sim: Simulator, client: Client, customer: seed.Customer, hours: int
) -> None:
    newest = await newest_from(client, wa(customer.address), wa(WA_SENDER))
    assert newest is not None and newest.date_created == START - timedelta(hours=hours)
    assert sim.world.customers.window_open(customer.address, WA_SENDER) == (hours < 24) == customer.whatsapp_window_open


async def test_window_open_agrees_with_the_visible_history_as_time_passes(sim: Simulator, client: Client) -> None:
    for _ in range(4):  # at the start, then after 10, 20 and 30 hours
        for customer in seed.CUSTOMERS:
            newest = await newest_from(client, wa(customer.address), wa(WA_SENDER))
            visible = newest is not None and sim.world.now() - newest.date_created.timestamp() < seed.WHATSAPP_WINDOW
            assert sim.world.customers.window_open(customer.address, WA_SENDER) == visible, customer.name
        sim.world.clock.advance(10 * 3600)


async def test_sam_replied_stop_three_days_ago(sim: Simulator, client: Client) -> None:
    newest = await newest_from(client, SAM.address, SMS_SENDER)
    assert newest is not None
    assert (newest.body, newest.date_created) == ("STOP", START - timedelta(days=3))
    assert sim.world.customers.opted_out(SAM.address, SMS_SENDER)
    assert not sim.world.customers.opted_out(SAM.address, OTHER_SMS_SENDER)  # an opt-out is per sender
    assert not any(sim.world.customers.opted_out(c.address, s) for c in (JANE, OMAR, MEI) for s in seed.SMS_SENDERS)


async def test_an_sms_to_sam_fails_21610_and_gets_no_reply(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, SAM.address, SMS_SENDER)  # the closed history holds no binding
    message = await send(client, sid, "Hi Sam, we have news for you")
    sim.world.clock.advance(60)
    assert await receipts(client, sid, message) == [("failed", 21610)]
    assert await authors(client, sid) == ["alice@example.com"]
    other = await conversation_with(client, SAM.address, OTHER_SMS_SENDER)
    await send(client, other, "Hi Sam, from our other number")
    sim.world.clock.advance(60)
    assert await authors(client, other) == ["alice@example.com", SAM.address]  # delivered, so he answers


async def test_a_new_whatsapp_conversation_with_jane_can_still_be_created(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, wa(JANE.address), wa(WA_SENDER))
    assert sim.world.conversations.active_conversation_for(wa(JANE.address), wa(WA_SENDER)).sid == sid
    records = await records_for(client, wa(JANE.address))
    assert [(r.conversation_sid, r.conversation_state) for r in records] == [
        (seed.HISTORY_SIDS[0], "closed"), (sid, "active")]
    message = await send(client, sid, "Hi Jane, about your call-back")
    sim.world.clock.advance(3 * DELAY)
    assert await receipts(client, sid, message) == [("read", 0)]  # inside the window the seeded message opened


def test_seeding_schedules_nothing_and_triggers_nothing() -> None:
    world = World(SimConfig(manual_clock=True, clock_start=START.timestamp()))
    assert world.clock.pending() == 0  # no delivery, no reply, no timer
    assert (world.studio.failures, world.taskrouter.tasks) == ([], {})
    assert list(world.conversations.conversations) == list(seed.HISTORY_SIDS)
    assert all(c.state == "closed" and not c.webhooks for c in world.conversations.conversations.values())
    before = [len(c.messages) for c in world.conversations.conversations.values()]
    assert world.clock.advance(7 * 86400) == 0
    assert [len(c.messages) for c in world.conversations.conversations.values()] == before


# -- opt-out keywords ------------------------------------------------------------------------


@pytest.mark.parametrize("keyword", sorted(OPT_OUT_KEYWORDS))
async def test_an_opt_out_keyword_blocks_our_messages_from_that_sender(
    sim: Simulator, client: Client, keyword: str
) -> None:
    sid = await conversation_with(client, JANE.address, SMS_SENDER)
    sim.world.customers.say(sid, f"  {keyword.lower()} ")  # the whole message, trimmed, in any case
    assert sim.world.customers.opted_out(JANE.address, SMS_SENDER)
    message = await send(client, sid, "Sorry to see you go")
    sim.world.clock.advance(60)
    assert await receipts(client, sid, message) == [("failed", 21610)]
    assert len(await authors(client, sid)) == 2  # her keyword and our failed message: no reply


async def test_a_keyword_inside_a_sentence_does_not_opt_out(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, JANE.address, SMS_SENDER)
    sim.world.customers.say(sid, "Please stop calling me at work")
    assert not sim.world.customers.opted_out(JANE.address, SMS_SENDER)


@pytest.mark.parametrize("keyword", sorted(OPT_IN_KEYWORDS))
async def test_an_opt_in_keyword_lets_our_messages_through_again(sim: Simulator, client: Client, keyword: str) -> None:
    sid = await conversation_with(client, wa(JANE.address), wa(WA_SENDER))
    sim.world.customers.say(sid, "STOP")
    blocked = await send(client, sid, "One more thing")
    sim.world.clock.advance(60)
    assert await receipts(client, sid, blocked) == [("failed", 21610)]  # on WhatsApp too
    sim.world.customers.say(sid, keyword.capitalize())
    assert not sim.world.customers.opted_out(JANE.address, WA_SENDER)
    delivered = await send(client, sid, "Welcome back")
    sim.world.clock.advance(60)
    assert await receipts(client, sid, delivered) == [("read", 0)]
    assert (await authors(client, sid))[-1] == wa(JANE.address)  # and she answers it


async def test_sam_texting_start_opts_him_back_in(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, SAM.address, SMS_SENDER)
    sim.world.customers.say(sid, "UNSTOP")
    message = await send(client, sid, "Thanks for coming back, Sam")
    sim.world.clock.advance(60)
    assert await receipts(client, sid, message) == [("delivered", 0)]
