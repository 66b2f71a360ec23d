"""Delivery receipts, the WhatsApp 24-hour window and the simulated customer, seen through the twilio SDK.

The `sim` fixture runs on a manual clock: delivery_delay 0.5 s (sent at 0.5, delivered at 1.0,
read at 1.5), customer_reply_delay 2.0 s after delivery.
"""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from sim import seed
from sim.server import Simulator
from sim.wire import TwilioError

JANE, OMAR, MEI, SAM = seed.CUSTOMERS  # Jane and Mei wrote to our WhatsApp sender 2 hours ago, Omar 30; Sam said STOP
SMS_SENDER = seed.SMS_SENDERS[0]
WA_SENDER = seed.WHATSAPP_SENDERS[0]
DELAY = 0.5
REPLY_DELAY = 2.0
APPROVED, PENDING = seed.TEMPLATES[0], seed.TEMPLATES[3]
UNKNOWN_NUMBER = "+14155550199"


def wa(number: str) -> str:
    return f"whatsapp:{number}"


async def conversation_with(client: Client, address: str, whatsapp: bool = False) -> str:
    conversation = await client.conversations.v1.conversations.create_async()
    await client.conversations.v1.conversations(conversation.sid).participants.create_async(
        messaging_binding_address=wa(address) if whatsapp else address,
        messaging_binding_proxy_address=wa(WA_SENDER) if whatsapp else SMS_SENDER,
    )
    return conversation.sid


async def send(client: Client, sid: str, **kwargs: Any) -> str:
    kwargs.setdefault("author", "alice@example.com")
    return (await client.conversations.v1.conversations(sid).messages.create_async(**kwargs)).sid


async def receipts(client: Client, sid: str, message_sid: str) -> list[tuple[str, int | None]]:
    found = await client.conversations.v1.conversations(sid).messages(message_sid).delivery_receipts.list_async()
    return [(r.status, r.error_code) for r in found]


async def statuses_over_time(sim: Simulator, client: Client, sid: str, message_sid: str, steps: int) -> list[Any]:
    """The receipts after each delivery delay, starting while the message is still queued."""
    seen = []
    for _ in range(steps):
        seen.append(await receipts(client, sid, message_sid))
        sim.world.clock.advance(DELAY)
    return seen


async def messages_of(client: Client, sid: str) -> list[Any]:
    return await client.conversations.v1.conversations(sid).messages.list_async()


# -- delivery receipts -----------------------------------------------------------------------


async def test_sms_goes_sent_then_delivered_and_never_read(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, JANE.address)
    message = await send(client, sid, body="Your order shipped")
    assert await statuses_over_time(sim, client, sid, message, 5) == [
        [], [("sent", 0)], [("delivered", 0)], [("delivered", 0)], [("delivered", 0)]]
    [receipt] = await client.conversations.v1.conversations(sid).messages(message).delivery_receipts.list_async()
    assert receipt.channel_message_sid.startswith("SM") and receipt.sid.startswith("DY")
    fetched = await client.conversations.v1.conversations(sid).messages(message).delivery_receipts(receipt.sid).fetch_async()
    assert (fetched.status, fetched.message_sid, fetched.conversation_sid) == ("delivered", message, sid)
    [participant] = await client.conversations.v1.conversations(sid).participants.list_async()
    assert fetched.participant_sid == participant.sid
    missing = client.conversations.v1.conversations(sid).messages(message).delivery_receipts("DY" + "0" * 32)
    with pytest.raises(TwilioRestException) as caught:
        await missing.fetch_async()
    assert (caught.value.status, caught.value.code) == (404, 20404)


async def test_whatsapp_goes_sent_delivered_read(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, JANE.address, whatsapp=True)
    message = await send(client, sid, body="Hi Jane")
    assert await statuses_over_time(sim, client, sid, message, 4) == [
        [], [("sent", 0)], [("delivered", 0)], [("read", 0)]]
    [receipt] = await client.conversations.v1.conversations(sid).messages(message).delivery_receipts.list_async()
    assert receipt.channel_message_sid.startswith("MM")


async def test_the_message_delivery_summary_follows_its_receipts(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, JANE.address)
    await client.conversations.v1.conversations(sid).participants.create_async(
        messaging_binding_address="+15005550001", messaging_binding_proxy_address=SMS_SENDER)  # invalid number
    message = await send(client, sid, body="Group hello")
    fetch = client.conversations.v1.conversations(sid).messages(message).fetch_async
    assert (await fetch()).delivery is None  # queued: no receipt yet
    sim.world.clock.advance(DELAY)
    assert (await fetch()).delivery == {"total": 2, "sent": "some", "delivered": "none", "read": "none",
                                        "failed": "some", "undelivered": "none"}
    sim.world.clock.advance(DELAY)
    assert (await fetch()).delivery == {"total": 2, "sent": "some", "delivered": "some", "read": "none",
                                        "failed": "some", "undelivered": "none"}


async def test_messages_to_chat_participants_only_get_no_receipts(sim: Simulator, client: Client) -> None:
    conversation = await client.conversations.v1.conversations.create_async()
    await client.conversations.v1.conversations(conversation.sid).participants.create_async(identity="bob")
    message = await send(client, conversation.sid, body="internal note")
    sim.world.clock.advance(10)
    assert await receipts(client, conversation.sid, message) == []
    assert (await client.conversations.v1.conversations(conversation.sid).messages(message).fetch_async()).delivery is None


FAILING = [m for m in seed.MAGIC_NUMBERS if m.error_code is not None]


@pytest.mark.parametrize("magic", FAILING, ids=[m.meaning for m in FAILING])
async def test_magic_numbers_fail_as_documented_on_sms(sim: Simulator, client: Client, magic: seed.MagicNumber) -> None:
    sid = await conversation_with(client, magic.address)
    message = await send(client, sid, body="Hello")
    sim.world.clock.advance(10 * DELAY)
    if magic.error_code == 63024:  # a WhatsApp-only failure: SMS gets through
        assert await receipts(client, sid, message) == [("delivered", 0)]
    else:
        assert await receipts(client, sid, message) == [(magic.status, magic.error_code)]
    assert len(await messages_of(client, sid)) == 1  # and no reply from any of them


async def test_failed_magic_number_fails_at_once_undelivered_is_sent_first(sim: Simulator, client: Client) -> None:
    failed = await conversation_with(client, "+15005550001")
    undelivered = await conversation_with(client, "+15005550010")
    failed_message = await send(client, failed, body="a")
    undelivered_message = await send(client, undelivered, body="b")
    seen = []
    for _ in range(3):
        seen.append((await receipts(client, failed, failed_message),
                     await receipts(client, undelivered, undelivered_message)))
        sim.world.clock.advance(DELAY)
    assert seen == [
        ([], []),
        ([("failed", 21211)], [("sent", 0)]),
        ([("failed", 21211)], [("undelivered", 30003)]),
    ]


async def test_not_on_whatsapp_magic_number_fails_with_63024(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, "+15005550013", whatsapp=True)
    message = await send(client, sid, content_sid=APPROVED.sid)
    sim.world.clock.advance(10 * DELAY)
    assert await receipts(client, sid, message) == [("failed", 63024)]


# -- the WhatsApp 24-hour window -------------------------------------------------------------


async def test_free_form_whatsapp_outside_the_window_fails_with_63016(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, OMAR.address, whatsapp=True)
    message = await send(client, sid, body="Hi Omar")
    sim.world.clock.advance(10 * DELAY)
    assert await receipts(client, sid, message) == [("failed", 63016)]
    assert len(await messages_of(client, sid)) == 1  # a failed message gets no reply


async def test_templates_outside_the_window_need_approval(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, OMAR.address, whatsapp=True)
    approved = await send(client, sid, content_sid=APPROVED.sid, content_variables='{"1":"Omar"}')
    pending = await send(client, sid, content_sid=PENDING.sid)
    sim.world.clock.advance(3 * DELAY)
    assert await receipts(client, sid, approved) == [("read", 0)]
    assert await receipts(client, sid, pending) == [("failed", 63016)]


async def test_inside_the_window_free_form_and_unapproved_templates_go(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, MEI.address, whatsapp=True)
    free_form = await send(client, sid, body="Hi Mei")
    pending = await send(client, sid, content_sid=PENDING.sid)
    sim.world.clock.advance(3 * DELAY)
    assert await receipts(client, sid, free_form) == [("read", 0)]
    assert await receipts(client, sid, pending) == [("read", 0)]


async def test_seeded_windows_close_24_hours_after_the_last_inbound(sim: Simulator) -> None:
    customers = sim.world.customers
    assert customers.window_open(wa(JANE.address), wa(WA_SENDER))
    assert customers.window_open(JANE.address, WA_SENDER)  # with or without the channel prefix
    assert not customers.window_open(OMAR.address, WA_SENDER)
    assert not customers.window_open(UNKNOWN_NUMBER, WA_SENDER)
    sim.world.clock.advance(22 * 3600 - 1)
    assert customers.window_open(JANE.address, WA_SENDER)
    sim.world.clock.advance(1)
    assert not customers.window_open(JANE.address, WA_SENDER)


async def test_a_customer_reply_opens_the_window(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, OMAR.address, whatsapp=True)
    sim.world.customers.say(sid, "Hello, can you help me?")
    assert sim.world.customers.window_open(OMAR.address, WA_SENDER)
    message = await send(client, sid, body="Of course!")
    sim.world.clock.advance(3 * DELAY)
    assert await receipts(client, sid, message) == [("read", 0)]
    sim.world.clock.advance(24 * 3600 + REPLY_DELAY)  # Omar's own answer to "Of course!" counts too
    assert not sim.world.customers.window_open(OMAR.address, WA_SENDER)


# -- the simulated customer ------------------------------------------------------------------


async def test_customer_replies_after_the_delay_and_not_before(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, JANE.address)
    await send(client, sid, body="Hello Jane, your package is waiting at the depot for pickup.")
    sim.world.clock.advance(2 * DELAY + REPLY_DELAY - 0.01)  # delivered at 1.0, reply due at 3.0
    assert len(await messages_of(client, sid)) == 1
    sim.world.clock.advance(0.02)
    agent_message, reply = await messages_of(client, sid)
    [customer] = await client.conversations.v1.conversations(sid).participants.list_async()
    assert (reply.author, reply.participant_sid, reply.index) == (JANE.address, customer.sid, 1)
    assert "Jane Doe" in reply.body
    assert '"Hello Jane, your package is waiting at…"' in reply.body
    assert reply.delivery is None  # inbound: nobody to deliver it to


async def test_whatsapp_reply_is_authored_by_the_whatsapp_address(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, JANE.address, whatsapp=True)
    await send(client, sid, body="Hi")
    sim.world.clock.advance(10)
    assert [(m.author, m.body) for m in await messages_of(client, sid)][1] == (
        wa(JANE.address), 'Hi, this is Jane Doe. Thanks for your message "Hi" Yes, I can talk now.')


async def test_unknown_customer_is_a_customer(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, UNKNOWN_NUMBER)
    await send(client, sid, body="Hello")
    sim.world.clock.advance(10)
    assert "this is a customer" in (await messages_of(client, sid))[1].body


async def test_magic_number_that_never_replies(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, "+15005550014")
    message = await send(client, sid, body="Hello?")
    sim.world.clock.advance(60)
    assert await receipts(client, sid, message) == [("delivered", 0)]
    assert len(await messages_of(client, sid)) == 1


async def test_valid_magic_number_replies(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, "+15005550006")
    await send(client, sid, body="Hello?")
    sim.world.clock.advance(60)
    assert len(await messages_of(client, sid)) == 2


async def test_no_reply_once_the_conversation_is_closed(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, JANE.address)
    await send(client, sid, body="Bye")
    sim.world.clock.advance(2 * DELAY)  # delivered, reply pending
    await client.conversations.v1.conversations(sid).update_async(state="closed")
    sim.world.clock.advance(REPLY_DELAY + 1)
    assert len(await messages_of(client, sid)) == 1


async def test_several_messages_before_the_reply_get_one_reply(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, JANE.address)
    await send(client, sid, body="First")
    await send(client, sid, body="Second")
    sim.world.clock.advance(10)
    assert [m.author for m in await messages_of(client, sid)] == ["alice@example.com"] * 2 + [JANE.address]
    await send(client, sid, body="Third")
    sim.world.clock.advance(10)
    assert len(await messages_of(client, sid)) == 5  # a later message gets its own answer


async def test_customer_messages_reach_studio_after_they_are_stored(
    sim: Simulator, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str, int]] = []

    def on_customer_message(conversation: Any, message: Any) -> None:
        assert conversation.messages[-1] is message  # stored before Studio hears of it
        seen.append((conversation.sid, message.author, len(message.receipts)))

    monkeypatch.setattr(sim.world.studio, "on_customer_message", on_customer_message)
    sid = await conversation_with(client, JANE.address)
    await send(client, sid, body="Agent here")
    assert seen == []  # our own messages are not the customer's
    sim.world.clock.advance(10)
    assert seen == [(sid, JANE.address, 0)]
    sim.world.customers.say(sid, "One more thing")
    assert seen[-1] == (sid, JANE.address, 0)


async def test_admin_route_makes_the_customer_write(sim: Simulator, client: Client) -> None:
    sid = await conversation_with(client, OMAR.address, whatsapp=True)
    token = base64.b64encode(f"{seed.ACCOUNT_SID}:{seed.DEMO_AUTH_TOKEN}".encode()).decode()
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as session:
        async with session.post(f"{sim.base_url}/_sim/conversations/{sid}/customer-messages",
                                json={"body": "Is anyone there?"}) as response:
            assert response.status == 201
            created = await response.json()
        async with session.post(f"{sim.base_url}/_sim/conversations/{sid}/customer-messages",
                                json={"text": "wrong key"}) as response:
            assert response.status == 400
    [message] = await messages_of(client, sid)
    assert (message.sid, message.author, message.body) == (created["sid"], wa(OMAR.address), "Is anyone there?")
    assert sim.world.customers.window_open(OMAR.address, WA_SENDER)


async def test_say_needs_a_customer_in_the_conversation(sim: Simulator, client: Client) -> None:
    conversation = await client.conversations.v1.conversations.create_async()
    with pytest.raises(TwilioError) as caught:
        sim.world.customers.say(conversation.sid, "hello")
    assert caught.value.status == 400


async def test_a_customer_writing_in_starts_a_conversation_routed_to_flex(sim: Simulator, client: Client) -> None:
    token = base64.b64encode(f"{seed.ACCOUNT_SID}:{seed.DEMO_AUTH_TOKEN}".encode()).decode()
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as session:
        async with session.post(f"{sim.base_url}/_sim/inbound",
                                json={"from": OMAR.address, "to": seed.SMS_SENDERS[0], "body": "Help please"}) as r:
            assert r.status == 201
            created = await r.json()
        async with session.post(f"{sim.base_url}/_sim/inbound", json={"from": OMAR.address}) as r:
            assert r.status == 400
    conversation = sim.world.conversations.conversation(created["conversation_sid"])
    assert [(m.author, m.body) for m in conversation.messages] == [(OMAR.address, "Help please")]
    [task] = sim.world.taskrouter.tasks_for_conversation(conversation.sid)
    assert task.attributes["direction"] == "inbound" and task.assignment_status == "reserved"
    assert not [w for w in conversation.webhooks.values() if w.target == "studio"]  # handed to Flex


async def test_customers_write_in_now_and_then_when_asked_to(sim_config: Any) -> None:
    sim_config.inbound_every = 60.0
    async with Simulator(sim_config) as sim:
        sim.world.clock.advance(59)
        assert not [c for c in sim.world.conversations.conversations.values() if c.sid not in seed.HISTORY_SIDS]
        sim.world.clock.advance(61)
        started = [c for c in sim.world.conversations.conversations.values() if c.sid not in seed.HISTORY_SIDS]
        assert len(started) == 2 and len({c.customer.address for c in started if c.customer}) == 2
