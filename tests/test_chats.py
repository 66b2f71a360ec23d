"""The agent's chats (core/chats.py) against the simulator over real HTTP: read from TaskRouter, the transcript,
a reply as the agent's identity (once, even when its answer is lost), end and complete, and a new open chat
to the same customer afterwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.chats import Chat, ChatDesk
from core.rules import check_reply
from core.customer import CustomerStatus
from core.errors import ConversationInUse, OutboundError, SendFailed
from core.journal import SendJournal, recover_replies
from core.models import SendMode
from core.outbound import OutboundService
from core.templates import ContentTemplate
from sim.server import Simulator
from tests.outbound_fixtures import (ALICE, BOB, JANE, MESSAGES, SMS_SENDER, MakeService, accept, draft,  # noqa: F401
                                     make_service)


def desk_of(service: OutboundService) -> ChatDesk:
    return ChatDesk(service.gateway, service.agent)


async def talking_chat(make_service: MakeService,
                       body: str = "Hello from Flex") -> tuple[OutboundService, ChatDesk, Chat]:
    """Alice's open chat to Jane, accepted: the agent, their desk, the chat."""
    alice = await make_service()
    sent = await alice.send(draft(alice, SendMode.OPEN_CHAT, body=body))
    await accept(alice.gateway.client, sent.task_sid or "")
    desk = desk_of(alice)
    return alice, desk, (await desk.my_chats())[0]


def customer_lines(sim: Simulator, conversation_sid: str) -> list[str]:
    return [m.body or "" for m in sim.world.conversations.conversation(conversation_sid).messages
            if m.author == JANE.address]


async def test_an_open_chat_is_offered_then_talking_read_from_taskrouter(
        sim: Simulator, make_service: MakeService) -> None:
    alice = await make_service()
    sent = await alice.send(draft(alice, SendMode.OPEN_CHAT))

    offered = await desk_of(alice).my_chats()
    assert [(c.task_sid, c.state, c.conversation_sid, c.customer, c.channel, c.direction) for c in offered] == [
        (sent.task_sid, "offered", sent.conversation_sid, JANE.address, "sms", "outbound")]

    await accept(alice.gateway.client, sent.task_sid or "")
    again = await desk_of(await make_service()).my_chats()  # another terminal: the same, from TaskRouter
    assert [(c.task_sid, c.state) for c in again] == [(sent.task_sid, "talking")]
    bob = await make_service(identity=BOB.friendly_name)
    assert await desk_of(bob).my_chats() == []  # only the agent's own


async def test_the_transcript_holds_both_sides_and_older_messages_on_demand(
        sim: Simulator, make_service: MakeService) -> None:
    alice = await make_service()
    sent = await alice.send(draft(alice, SendMode.OPEN_CHAT, body="First from Alice"))
    await accept(alice.gateway.client, sent.task_sid or "")
    sim.world.clock.advance(10)  # delivered, and Jane answers
    desk = desk_of(alice)
    chat = (await desk.my_chats())[0]
    for n in range(6):
        sim.world.customers.say(chat.conversation_sid, f"line {n}")

    newest = await desk.transcript(chat, size=3)
    assert [m.body for m in newest] == ["line 3", "line 4", "line 5"]
    assert all(m.from_customer and not m.mine for m in newest)
    older = await desk.transcript(chat, before=newest[0].index, size=50)
    assert [m.body for m in older][:2] == ["First from Alice", customer_lines(sim, chat.conversation_sid)[0]]
    assert older[0].mine and not older[0].from_customer and older[-1].body == "line 2"


async def test_a_reply_goes_as_the_agent_and_the_customer_answers_a_few_turns(
        sim: Simulator, make_service: MakeService) -> None:
    alice = await make_service()
    sent = await alice.send(draft(alice, SendMode.OPEN_CHAT, body="Hello Jane"))
    await accept(alice.gateway.client, sent.task_sid or "")
    desk = desk_of(alice)
    chat = (await desk.my_chats())[0]
    sim.world.clock.advance(10)
    for text in ("Your parcel is on its way", "It arrives Tuesday", "Anything else?"):
        await desk.reply(chat, text)
        sim.world.clock.advance(10)

    mine = [m for m in await desk.transcript(chat) if m.mine]
    assert [m.body for m in mine] == ["Hello Jane", "Your parcel is on its way", "It arrives Tuesday", "Anything else?"]
    assert {m.author for m in mine} == {alice.agent.identity}  # as the agent's Flex identity, encoded as Flex does
    said = customer_lines(sim, chat.conversation_sid)
    assert len(said) == 3 and len(set(said)) == 3  # a few different turns, then nothing more
    assert said[-1].endswith("bye!")


async def test_a_reply_whose_answer_is_lost_is_found_not_posted_twice(
        sim: Simulator, make_service: MakeService) -> None:
    alice, desk, chat = await talking_chat(make_service)
    sim.fault(MESSAGES, method="POST", kind="drop")

    sid = await desk.reply(chat, "Only once")

    bodies = [m.body for m in sim.world.conversations.conversation(chat.conversation_sid).messages]
    assert bodies.count("Only once") == 1
    assert sid == sim.world.conversations.conversation(chat.conversation_sid).messages[-1].sid


async def test_a_reply_whose_answer_and_look_ups_are_lost_stays_in_the_journal_until_twilio_settles_it(
        sim: Simulator, make_service: MakeService) -> None:
    alice, _, chat = await talking_chat(make_service)
    journal = SendJournal(":memory:", alice.agent.sid)
    desk = ChatDesk(alice.gateway, alice.agent, journal)
    sim.fault(MESSAGES, method="POST", kind="drop")
    sim.fault(MESSAGES, method="GET", status=503, times=None)  # and every look-up fails

    with pytest.raises(SendFailed) as failed:
        await desk.reply(chat, "Did it go?")
    assert failed.value.reached_customer is None  # not "nothing reached the customer": it did
    assert str(failed.value).startswith("The reply may have reached the customer:")
    assert [r.body for r in journal.unfinished_replies()] == ["Did it go?"]

    sim.world.faults.clear()
    said, drafts = await recover_replies(alice.gateway, journal)
    assert said == ["A reply to +1 415-555-0100 was interrupted when the app stopped; it had reached the "
                    "conversation."]
    assert drafts == {} and journal.unfinished_replies() == []


async def test_a_reply_that_fails_says_nothing_reached_the_customer(
        sim: Simulator, make_service: MakeService) -> None:
    alice, _, chat = await talking_chat(make_service)
    journal = SendJournal(":memory:", alice.agent.sid)
    desk = ChatDesk(alice.gateway, alice.agent, journal)
    sim.fault(MESSAGES, method="POST", status=500)

    with pytest.raises(SendFailed) as failed:
        await desk.reply(chat, "Lost")
    assert failed.value.reached_customer is False
    assert str(failed.value).endswith("Nothing reached the customer.")
    assert journal.unfinished_replies() == []  # known: nothing for the next start to settle


async def test_end_puts_the_task_in_wrap_up_complete_frees_it_and_a_new_chat_goes(
        sim: Simulator, make_service: MakeService) -> None:
    alice, desk, chat = await talking_chat(make_service)
    with pytest.raises(ConversationInUse):
        await alice.send(draft(alice, SendMode.OPEN_CHAT, body="A second chat"))

    await desk.end(chat)
    assert [(c.task_sid, c.state) for c in await desk.my_chats()] == [(chat.task_sid, "wrap-up")]
    assert sim.world.taskrouter.tasks[chat.task_sid].assignment_status == "wrapping"
    assert sim.world.conversations.conversation(chat.conversation_sid).state == "closed"

    await desk.complete(chat)
    assert await desk.my_chats() == []
    assert sim.world.taskrouter.tasks[chat.task_sid].assignment_status == "completed"
    again = await alice.send(draft(alice, SendMode.OPEN_CHAT, body="A new chat"))
    assert again.conversation_sid != chat.conversation_sid


async def test_an_end_whose_closing_failed_is_finished_when_the_task_completes(
        sim: Simulator, make_service: MakeService) -> None:
    alice, desk, chat = await talking_chat(make_service)
    sim.fault(r"/v1/Interactions/KD[0-9a-f]+/Channels/UO[0-9a-f]+", method="POST", status=400, code=20001)

    with pytest.raises(OutboundError):
        await desk.end(chat)
    assert sim.world.taskrouter.tasks[chat.task_sid].assignment_status == "wrapping"  # my participant went
    assert sim.world.conversations.conversation(chat.conversation_sid).state == "active"  # the customer's did not

    await desk.complete(chat)
    assert sim.world.conversations.conversation(chat.conversation_sid).state == "closed"
    assert sim.world.taskrouter.tasks[chat.task_sid].assignment_status == "completed"
    again = await alice.send(draft(alice, SendMode.OPEN_CHAT, body="A new chat"))
    assert again.conversation_sid != chat.conversation_sid


async def test_colleagues_are_the_other_workers_then_the_queues(sim: Simulator, make_service: MakeService) -> None:
    alice = await make_service()
    colleagues = await desk_of(alice).colleagues()
    people = [c.name for c in colleagues if c.sid.startswith("WK")]
    assert ALICE.full_name not in people and BOB.full_name in people and people == sorted(people)
    assert [c.sid[:2] for c in colleagues][-1] == "WQ" and colleagues[-1].name.endswith("(queue)")


async def test_a_chat_handed_over_leaves_me_when_the_colleague_accepts(
        sim: Simulator, make_service: MakeService) -> None:
    alice, desk, chat = await talking_chat(make_service)
    bob = next(c for c in await desk.colleagues() if c.name == BOB.full_name)

    handed = await desk.hand_over(chat, bob)
    assert await desk.hand_over_done(handed) is None  # offered to Bob, not yet his
    assert [c.task_sid for c in await desk.my_chats()] == [chat.task_sid]  # still mine meanwhile
    bob_desk = desk_of(await make_service(identity=BOB.friendly_name))
    assert [(c.conversation_sid, c.state) for c in await bob_desk.my_chats()] == [(chat.conversation_sid, "offered")]

    await accept(alice.gateway.client, handed.task_sid)
    assert await desk.hand_over_done(handed) == "accepted"
    assert await desk.my_chats() == []
    assert sim.world.taskrouter.tasks[chat.task_sid].assignment_status == "completed"
    assert [(c.conversation_sid, c.state) for c in await bob_desk.my_chats()] == [(chat.conversation_sid, "talking")]
    assert sim.world.conversations.conversation(chat.conversation_sid).state == "active"  # the customer stays


async def test_a_customer_who_writes_in_is_an_inbound_chat_offered_to_me(
        sim: Simulator, make_service: MakeService) -> None:
    alice = await make_service()
    message = sim.world.customers.write_in(JANE.address, SMS_SENDER, "Where is my order?")

    [chat] = await desk_of(alice).my_chats()
    assert (chat.conversation_sid, chat.state, chat.direction, chat.customer) == (
        message.conversation_sid, "offered", "inbound", JANE.address)
    assert [m.body for m in await desk_of(alice).transcript(chat)] == ["Where is my order?"]


async def test_a_reply_routed_to_me_is_an_offered_chat_i_can_accept_answer_and_end(
        sim: Simulator, make_service: MakeService) -> None:
    alice = await make_service()
    sent = await alice.send(draft(alice, SendMode.WAIT_ME, body="Your order shipped"))
    sim.world.clock.advance(10)  # delivered; Jane replies; Studio sends it to Flex, routed to me
    desk = desk_of(alice)
    [chat] = await desk.my_chats()
    assert (chat.conversation_sid, chat.state, chat.customer) == (sent.conversation_sid, "offered", JANE.address)

    await desk.accept(chat)
    [chat] = await desk.my_chats()
    assert chat.state == "talking"
    await desk.reply(chat, "Thanks Jane, anything else?")
    await desk.end(chat)
    assert [c.state for c in await desk.my_chats()] == ["wrap-up"]
    assert sim.world.conversations.conversation(chat.conversation_sid).state == "closed"


def _chat(channel: str = "sms") -> Chat:
    return Chat(task_sid="WT" + "1" * 32, reservation_sid="WR" + "1" * 32, state="talking", since=None,
                conversation_sid="CH" + "1" * 32, channel=channel, customer=JANE.address, customer_name=None,
                direction="inbound", interaction_sid=None, interaction_channel_sid=None)


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("channel", "body", "wrote_ago", "opted_out", "problem"), [
    ("sms", "Hello", None, False, None),
    ("sms", "   ", None, False, "Write a message before sending."),  # the send path's sentences (core.rules)
    ("sms", "x" * 1601, None, False, "The message is 1601 characters; Twilio accepts at most 1600."),
    ("sms", "Hi {customer_name}", None, False, "Replace {customer_name} in the message before sending."),
    ("sms", "Hello", None, True, "+1 415-555-0100 opted out of messages from this number (they replied STOP): "
                                 "Twilio would not deliver it (error 21610)."),
    ("whatsapp", "Hello", timedelta(hours=23, minutes=59), False, None),
    ("whatsapp", "", timedelta(hours=1), False, "Write a message (or choose a template) before sending."),
    ("whatsapp", "Hello", timedelta(hours=24, seconds=1), False,
     "The WhatsApp 24-hour window is closed: choose an approved template."),
    ("whatsapp", "Hello", None, False, "The WhatsApp 24-hour window is closed: choose an approved "
                                       "template."),
])
def test_a_reply_follows_the_send_paths_rules(channel: str, body: str, wrote_ago: timedelta | None,
                                             opted_out: bool, problem: str | None) -> None:
    customer = CustomerStatus(last_inbound=NOW - wrote_ago if wrote_ago else None, opted_out=opted_out,
                              checked_at=NOW)
    refused = check_reply(_chat(channel), body, customer, NOW)
    assert (str(refused) if refused else None) == problem


ORDER = ContentTemplate(sid="HX" + "2" * 32, name="order_update", language="en",
                        body="Hello {{first_name}}, your order {{order_id}} has shipped.", whatsapp_status="approved")


@pytest.mark.parametrize(("template", "values", "opted_out", "problem"), [
    (ORDER, {"first_name": "Omar", "order_id": "A-1"}, False, None),
    (ORDER, {"first_name": "Omar"}, False, "Fill in {{order_id}}."),
    (ORDER.model_copy(update={"whatsapp_status": "pending"}), {"first_name": "Omar", "order_id": "A-1"}, False,
     "order_update is pending WhatsApp approval: outside the 24-hour window only approved templates can "
     "be sent."),
    (ORDER, {"first_name": "Omar", "order_id": "A-1"}, True,
     "+1 415-555-0100 opted out of messages from this number (they replied STOP): Twilio would not deliver it "
     "(error 21610)."),
])
def test_a_template_reply_outside_the_window_must_be_approved_and_filled_in(
        template: ContentTemplate, values: dict[str, str], opted_out: bool, problem: str | None) -> None:
    customer = CustomerStatus(last_inbound=NOW - timedelta(days=2), opted_out=opted_out, checked_at=NOW)
    refused = check_reply(_chat("whatsapp"), "", customer, NOW, template, values)
    assert (str(refused) if refused else None) == problem


async def test_the_customer_of_a_chat_is_read_with_the_chats_own_number(
        sim: Simulator, make_service: MakeService) -> None:
    alice = await make_service()
    sent = await alice.send(draft(alice, SendMode.OPEN_CHAT))
    await accept(alice.gateway.client, sent.task_sid or "")
    desk = desk_of(alice)
    [chat] = await desk.my_chats()
    sim.world.customers.say(chat.conversation_sid, "STOP")
    customer = await desk.customer(chat, NOW)
    assert customer is not None and customer.opted_out


async def test_scrolling_back_reads_each_page_once_and_misses_nothing(
        sim: Simulator, make_service: MakeService) -> None:
    alice = await make_service()
    message = sim.world.customers.write_in(JANE.address, SMS_SENDER, "line 000")
    for n in range(1, 230):
        sim.world.customers.say(message.conversation_sid, f"line {n:03}")
    desk = desk_of(alice)
    [chat] = await desk.my_chats()
    reads = len(sim.world.log.matching("GET", MESSAGES))

    page = await desk.transcript(chat, size=50)
    seen = [m.body for m in page]
    while page:
        page = await desk.transcript(chat, before=page[0].index, size=50)
        seen = [m.body for m in page] + seen
    assert seen == [f"line {n:03}" for n in range(230)]
    assert len(sim.world.log.matching("GET", MESSAGES)) - reads == 5  # 230 messages: 5 pages, each once

    assert [m.body for m in await desk.transcript(chat, before=100, size=30)] == [
        f"line {n:03}" for n in range(70, 100)]  # asked from elsewhere: still right
