"""OutboundService against the simulator over real HTTP: the three modes, reuse, refusal, compensation.

Each test drives core (settings → gateway → service) and checks the outcome where Twilio keeps it:
the task and its reservation, the conversation's attributes, the message and its delivery receipts,
and the simulator's request log for what core sent and when.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from core.actions import SEND_OUTBOUND_MESSAGE, ActionBus, ActionVetoed, SendOutboundMessagePayload
from core.errors import ConversationInUse, InvalidSend, SendFailed, TwilioError, TwilioUnavailable
from core.models import SendMode, SendResult
from core.outbound import OutboundService
from sim import seed
from sim.knobs import LoggedRequest, sequential_round_trips
from sim.server import Simulator
from tests.outbound_fixtures import (  # noqa: F401 (fixtures)
    ALICE,
    BOB,
    CAROL,
    CWP,
    INTERACTIONS,
    JANE,
    MESSAGES,
    MEI,
    OMAR,
    SMS_SENDER,
    WA_SENDER,
    WEBHOOKS,
    MakeService,
    accept,
    calls,
    conversation_attributes,
    draft,
    holding_worker,
    json_param,
    make_service,
    messages_in,
    open_conversations,
    overlap,
    receipt_statuses,
    service,
    tasks_for,
    twilio_requests,
    until_replied,
)

REMINDER = seed.TEMPLATES[0]  # appointment_reminder, approved: "Hi {{1}}, … on {{2}}. Reply YES to confirm."
WAIT_MODES = [SendMode.WAIT_ME, SendMode.WAIT_ANY]


def live(tasks: list[Any]) -> list[Any]:
    return [t for t in tasks if t.assignment_status in ("pending", "reserved", "assigned", "wrapping")]


async def delivered(sim: Simulator, client: Client, result: SendResult) -> list[str]:
    """The receipt statuses of the send's message once the simulated delivery has run."""
    sim.world.clock.advance(3 * sim.world.config.delivery_delay)
    return await receipt_statuses(client, result.conversation_sid, result.message_sid)


# == each mode end to end ==========================================================================


@pytest.mark.parametrize("name", [None, "Jane Doe"], ids=["formatted-number", "given-name"])
async def test_open_chat_reserves_a_task_for_me_at_once_and_delivers_the_message(
    sim: Simulator, client: Client, service: OutboundService, name: str | None
) -> None:
    result = await service.send(draft(service, SendMode.OPEN_CHAT, destination="(415) 555-0100",
                                      body="Hello from Flex", customer_name=name))

    # no clock advanced: the task exists and is reserved for me right away
    [task] = await tasks_for(client, result.conversation_sid)
    assert result.task_sid == task.sid and result.interaction_sid and not result.reused
    assert task.assignment_status == "reserved"
    assert await holding_worker(client, task.sid) == ALICE.sid
    attributes = json.loads(task.attributes)
    assert attributes["direction"] == "outbound"
    assert attributes["customerName"] == (name or "+1 415-555-0100")
    assert attributes["customerName"] != "Customer"
    assert attributes["customerAddress"] == JANE.address
    assert attributes["twilioNumber"] == SMS_SENDER
    assert attributes["channelType"] == "sms"
    assert attributes["conversationSid"] == result.conversation_sid

    [message] = await messages_in(client, result.conversation_sid)
    assert (message.sid, message.body, message.author) == (result.message_sid, "Hello from Flex",
                                                           "alice_40example_2Ecom")
    assert await delivered(sim, client, result) == ["delivered"]


async def test_wait_me_routes_the_reply_to_me_even_when_i_am_not_the_queues_next_worker(
    sim: Simulator, client: Client, make_service: MakeService
) -> None:
    carol = await make_service(CAROL.friendly_name)  # the queue would offer Alice first: everyone is idle, seed order
    result = await carol.send(draft(carol, SendMode.WAIT_ME, body="Call me back?"))

    assert result.task_sid is None and result.interaction_sid is None and not result.reused
    attributes = await conversation_attributes(client, result.conversation_sid)
    assert attributes["KnownAgentRoutingFlag"] is True
    assert attributes["KnownAgentWorkerSid"] == CAROL.sid
    assert attributes["direction"] == "outbound" and attributes["customerName"] == "+1 415-555-0100"
    assert await tasks_for(client, result.conversation_sid) == []  # nothing routed before the customer answers
    assert await delivered(sim, client, result) == ["delivered"]

    until_replied(sim)
    [task] = await tasks_for(client, result.conversation_sid)
    assert task.assignment_status == "reserved"
    assert json.loads(task.attributes)["KnownAgentRoutingFlag"] == "true"
    assert await holding_worker(client, task.sid) == CAROL.sid


async def test_wait_any_routes_the_reply_to_the_queues_next_worker(
    sim: Simulator, client: Client, make_service: MakeService
) -> None:
    carol = await make_service(CAROL.friendly_name)
    result = await carol.send(draft(carol, SendMode.WAIT_ANY, body="Any questions?"))

    attributes = await conversation_attributes(client, result.conversation_sid)
    assert "KnownAgentRoutingFlag" in attributes and attributes["KnownAgentRoutingFlag"] is False
    assert attributes["KnownAgentWorkerSid"] == ""
    assert await tasks_for(client, result.conversation_sid) == []
    assert await delivered(sim, client, result) == ["delivered"]

    until_replied(sim)
    [task] = await tasks_for(client, result.conversation_sid)
    assert task.assignment_status == "reserved"
    assert json.loads(task.attributes)["KnownAgentRoutingFlag"] == "false"
    assert await holding_worker(client, task.sid) == ALICE.sid  # the queue's next worker, not the sender


@pytest.mark.parametrize("mode", list(SendMode))
async def test_whatsapp_send_adds_the_prefixes_and_reaches_the_customer(
    sim: Simulator, client: Client, service: OutboundService, mode: SendMode
) -> None:
    assert MEI.whatsapp_window_open
    result = await service.send(draft(service, mode, channel="whatsapp", destination="+1 415 555 0102",
                                      sender=WA_SENDER, body="Your order is ready"))

    [created] = [e for e in twilio_requests(sim) if e.method == "POST" and e.path in (CWP, INTERACTIONS)]
    if mode is SendMode.OPEN_CHAT:
        [participant] = json_param(created, "Channel")["participants"]
        assert participant == {"address": "whatsapp:+14155550102", "proxy_address": "whatsapp:+14155238886"}
        [task] = await tasks_for(client, result.conversation_sid)
        attributes = json.loads(task.attributes)
        assert attributes["channelType"] == "whatsapp"
        assert attributes["customerAddress"] == "whatsapp:+14155550102"
        assert attributes["twilioNumber"] == "whatsapp:+14155238886"
        assert attributes["customerName"] == "+1 415-555-0102"
    else:
        assert json.loads(created.param("Participant") or "") == {"messaging_binding": {
            "address": "whatsapp:+14155550102", "proxy_address": "whatsapp:+14155238886"}}
    assert await open_conversations(client, "whatsapp:+14155550102", "whatsapp:+14155238886") == [
        result.conversation_sid]
    assert await delivered(sim, client, result) == ["read"]  # free-form inside the 24-hour window


async def test_whatsapp_template_with_variables_arrives_rendered(
    sim: Simulator, client: Client, service: OutboundService
) -> None:
    assert not OMAR.whatsapp_window_open  # outside the window only an approved template goes through
    result = await service.send(draft(service, SendMode.WAIT_ANY, channel="whatsapp", destination=OMAR.address,
                                      sender=WA_SENDER, body=None, content_sid=REMINDER.sid,
                                      content_variables={"1": "Omar", "2": "Friday 10:00"}))

    [post] = [e for e in twilio_requests(sim) if e.method == "POST" and e.path.endswith("/Messages")]
    assert post.param("ContentSid") == REMINDER.sid
    assert json.loads(post.param("ContentVariables") or "") == {"1": "Omar", "2": "Friday 10:00"}
    assert post.param("Body") is None
    [message] = await messages_in(client, result.conversation_sid)
    assert message.body == "Hi Omar, this is a reminder of your appointment on Friday 10:00. Reply YES to confirm."
    assert await delivered(sim, client, result) == ["read"]


# == round trips ===================================================================================


@pytest.mark.parametrize("mode", list(SendMode))
async def test_happy_path_takes_at_most_two_sequential_round_trips(
    sim: Simulator, service: OutboundService, mode: SendMode
) -> None:
    sim.world.config.latency = 0.05  # every request takes a while, so what runs concurrently shows
    since = len(sim.world.log)
    await service.send(draft(service, mode))
    sent = twilio_requests(sim, since)

    assert sequential_round_trips(sent) <= 2, calls(sent)
    if mode is SendMode.OPEN_CHAT:
        assert calls(sent) == ["POST /v1/Interactions", "POST /v1/Conversations/CH/Messages"]
    else:
        assert sorted(calls(sent)) == sorted(["POST /v1/ConversationWithParticipants",
                                              "POST /v1/Conversations/CH/Webhooks",
                                              "POST /v1/Conversations/CH/Messages"])
        [webhook] = [e for e in sent if e.path.endswith("/Webhooks")]
        [message] = [e for e in sent if e.path.endswith("/Messages")]
        assert overlap(webhook, message)


def test_round_trip_counter_counts_waves() -> None:
    """The counter itself: sequential requests add a wave, overlapping ones do not."""

    def entry(started: float, duration: float) -> LoggedRequest:
        return LoggedRequest("POST", "h", "/p", [], [], {}, started, duration)

    assert sequential_round_trips([]) == 0
    assert sequential_round_trips([entry(0, 1), entry(1.5, 1), entry(1.6, 1)]) == 2
    assert sequential_round_trips([entry(0, 1), entry(1.5, 1), entry(3, 1)]) == 3
    assert sequential_round_trips([entry(0, 1), entry(0.5, 1), entry(0.9, 1)]) == 1


# == an existing conversation ======================================================================


async def test_wait_any_reusing_a_wait_me_conversation_routes_the_reply_to_the_queue(
    sim: Simulator, client: Client, make_service: MakeService
) -> None:
    """The seed plugin's stale flag: a wait_me conversation reused by wait_any must not still target me."""
    carol = await make_service(CAROL.friendly_name)
    first = await carol.send(draft(carol, SendMode.WAIT_ME, body="Call me back?"))
    assert (await conversation_attributes(client, first.conversation_sid))["KnownAgentRoutingFlag"] is True

    second = await carol.send(draft(carol, SendMode.WAIT_ANY, body="Or anyone of us"))

    assert second.reused and second.conversation_sid == first.conversation_sid
    attributes = await conversation_attributes(client, first.conversation_sid)
    assert attributes["KnownAgentRoutingFlag"] is False and attributes["KnownAgentWorkerSid"] == ""
    until_replied(sim)
    [task] = await tasks_for(client, first.conversation_sid)
    assert await holding_worker(client, task.sid) == ALICE.sid
    assert await holding_worker(client, task.sid) != CAROL.sid


async def test_wait_me_reusing_a_wait_any_conversation_routes_the_reply_to_me(
    sim: Simulator, client: Client, make_service: MakeService
) -> None:
    carol = await make_service(CAROL.friendly_name)
    first = await carol.send(draft(carol, SendMode.WAIT_ANY))
    second = await carol.send(draft(carol, SendMode.WAIT_ME, body="Actually, ask for me"))

    assert second.reused and second.conversation_sid == first.conversation_sid
    until_replied(sim)
    [task] = await tasks_for(client, first.conversation_sid)
    assert await holding_worker(client, task.sid) == CAROL.sid


async def test_open_chat_reuses_a_conversation_without_a_live_task(
    sim: Simulator, client: Client, service: OutboundService
) -> None:
    waiting = await service.send(draft(service, SendMode.WAIT_ANY, body="First"))
    since = len(sim.world.log)

    result = await service.send(draft(service, SendMode.OPEN_CHAT, body="Let's talk now"))

    assert result.reused and result.conversation_sid == waiting.conversation_sid
    attached = [e for e in twilio_requests(sim, since) if e.path == INTERACTIONS and e.status == 200]
    assert [json_param(e, "Channel")["properties"] for e in attached] == [
        {"media_channel_sid": waiting.conversation_sid}]
    [task] = await tasks_for(client, result.conversation_sid)
    assert task.sid == result.task_sid and task.assignment_status == "reserved"
    assert await holding_worker(client, task.sid) == ALICE.sid
    assert json.loads(task.attributes)["direction"] == "outbound"
    assert [m.body for m in await messages_in(client, result.conversation_sid)] == ["First", "Let's talk now"]
    assert await open_conversations(client, JANE.address, SMS_SENDER) == [waiting.conversation_sid]


async def test_open_chat_is_refused_while_a_live_task_holds_the_conversation(
    sim: Simulator, client: Client, service: OutboundService, make_service: MakeService
) -> None:
    bob = await make_service(BOB.friendly_name)
    held = await bob.send(draft(bob, SendMode.OPEN_CHAT, body="Bob here"))
    await accept(client, held.task_sid or "")
    participants = await client.conversations.v1.conversations(held.conversation_sid).participants.list_async()
    assert "bob_40example_2Ecom" in [p.identity for p in participants]  # two escapes to decode

    with pytest.raises(ConversationInUse) as refused:
        await service.send(draft(service, SendMode.OPEN_CHAT, body="Alice here"))

    assert str(refused.value) == "There is an open outbound conversation with +1 415-555-0100, assigned to Bob Martinez."
    assert refused.value.holder == "Bob Martinez"
    assert [t.sid for t in await tasks_for(client, held.conversation_sid)] == [held.task_sid]
    assert [m.body for m in await messages_in(client, held.conversation_sid)] == ["Bob here"]


async def test_refusal_names_the_reserved_worker_before_they_joined(
    sim: Simulator, client: Client, service: OutboundService, make_service: MakeService
) -> None:
    bob = await make_service(BOB.friendly_name)
    await bob.send(draft(bob, SendMode.OPEN_CHAT))  # reserved for Bob, not accepted: no agent in the conversation

    with pytest.raises(ConversationInUse, match=r"with \+1 415-555-0100, assigned to Bob Martinez\.$"):
        await service.send(draft(service, SendMode.OPEN_CHAT))


@pytest.mark.parametrize("mode", WAIT_MODES)
async def test_wait_mode_writes_into_the_live_conversation_without_a_second_task(
    sim: Simulator, client: Client, service: OutboundService, make_service: MakeService, mode: SendMode
) -> None:
    bob = await make_service(BOB.friendly_name)
    held = await bob.send(draft(bob, SendMode.OPEN_CHAT, body="Bob here"))
    await accept(client, held.task_sid or "")

    result = await service.send(draft(service, mode, body="Alice adds a note"))

    assert result.reused and result.conversation_sid == held.conversation_sid
    assert result.holder == "Bob Martinez" and result.task_sid == held.task_sid
    assert [m.body for m in await messages_in(client, held.conversation_sid)] == ["Bob here", "Alice adds a note"]
    # the live task is the reply's route: no Studio webhook that would start a second task later
    assert await client.conversations.v1.conversations(held.conversation_sid).webhooks.list_async() == []
    until_replied(sim)
    tasks = await tasks_for(client, held.conversation_sid)
    assert [(t.sid, t.assignment_status) for t in tasks] == [(held.task_sid, "assigned")]


@pytest.mark.parametrize("mode", WAIT_MODES)
async def test_duplicate_binding_error_without_a_conversation_sid_is_looked_up(
    sim: Simulator, client: Client, service: OutboundService, mode: SendMode
) -> None:
    existing = await service.send(draft(service, SendMode.WAIT_ANY, body="First"))
    sim.fault(CWP, method="POST", status=409, code=50425,
              message="One or more participants already have a binding with this proxy address")
    since = len(sim.world.log)

    result = await service.send(draft(service, mode, body="Second"))

    assert result.reused and result.conversation_sid == existing.conversation_sid
    assert "GET /v1/ParticipantConversations" in calls(twilio_requests(sim, since))
    assert [m.body for m in await messages_in(client, existing.conversation_sid)] == ["First", "Second"]


async def test_flex_duplicate_binding_error_without_a_conversation_sid_is_looked_up(
    sim: Simulator, client: Client, service: OutboundService
) -> None:
    existing = await service.send(draft(service, SendMode.WAIT_ANY, body="First"))
    sim.fault(INTERACTIONS, method="POST", status=409, code=45361,
              message="Failed to add participant to the conversation: a binding for this participant already exists")

    result = await service.send(draft(service, SendMode.OPEN_CHAT, body="Second"))

    assert result.reused and result.conversation_sid == existing.conversation_sid
    [task] = await tasks_for(client, existing.conversation_sid)
    assert await holding_worker(client, task.sid) == ALICE.sid


# == compensation ==================================================================================

FAILURES = [
    pytest.param({"kind": "status", "status": 500}, id="500"),
    pytest.param({"kind": "status", "status": 503, "code": 20503}, id="503"),
    pytest.param({"kind": "reset"}, id="reset"),
    pytest.param({"kind": "status", "status": 400, "code": 21610, "message": "Attempt to send to unsubscribed recipient"},
                 id="400"),
]


def _created_interaction(sim: Simulator) -> dict[str, Any]:
    [created] = [e for e in sim.world.log if e.path == INTERACTIONS and e.status == 200]
    return json.loads(created.response_body)


@pytest.mark.parametrize("failure", FAILURES)
async def test_open_chat_message_failure_closes_the_chat_and_reaches_no_one(
    sim: Simulator, client: Client, service: OutboundService, failure: dict[str, Any]
) -> None:
    sim.fault(MESSAGES, method="POST", **failure)

    with pytest.raises(SendFailed) as failed:
        await service.send(draft(service, SendMode.OPEN_CHAT, body="Hello"))

    assert failed.value.reached_customer is False
    assert str(failed.value).endswith("Nothing reached the customer.")
    interaction = _created_interaction(sim)
    conversation_sid = json.loads(interaction["routing"]["properties"]["attributes"])["conversationSid"]
    channel = await client.flex_api.v1.interaction(interaction["sid"]).channels(interaction["channel"]["sid"]).fetch_async()
    assert channel.status == "closed"
    conversation = await client.conversations.v1.conversations(conversation_sid).fetch_async()
    assert conversation.state == "closed"
    assert live(await tasks_for(client, conversation_sid)) == []
    until_replied(sim)
    assert await messages_in(client, conversation_sid) == []
    assert await open_conversations(client, JANE.address, SMS_SENDER) == []


@pytest.mark.parametrize("mode", WAIT_MODES)
@pytest.mark.parametrize("failure", FAILURES)
async def test_wait_mode_message_failure_removes_the_new_conversation(
    sim: Simulator, client: Client, service: OutboundService, mode: SendMode, failure: dict[str, Any]
) -> None:
    sim.fault(MESSAGES, method="POST", **failure)

    with pytest.raises(SendFailed) as failed:
        await service.send(draft(service, mode, body="Hello"))

    assert failed.value.reached_customer is False
    [created] = [e for e in sim.world.log if e.path == CWP and e.status == 201]
    conversation_sid = json.loads(created.response_body)["sid"]
    with pytest.raises(TwilioRestException) as gone:
        await client.conversations.v1.conversations(conversation_sid).fetch_async()
    assert gone.value.status == 404
    assert await open_conversations(client, JANE.address, SMS_SENDER) == []
    until_replied(sim)
    assert await tasks_for(client, conversation_sid) == []

    again = await service.send(draft(service, mode, body="Hello again"))  # the customer is not blocked
    assert not again.reused and again.conversation_sid != conversation_sid


@pytest.mark.parametrize("mode", WAIT_MODES)
@pytest.mark.parametrize("failure", FAILURES[:3])
async def test_wait_mode_reply_route_failing_once_is_repaired(
    sim: Simulator, client: Client, service: OutboundService, mode: SendMode, failure: dict[str, Any]
) -> None:
    sim.fault(WEBHOOKS, method="POST", times=1, **failure)

    result = await service.send(draft(service, mode, body="Hello"))

    webhooks = await client.conversations.v1.conversations(result.conversation_sid).webhooks.list_async()
    assert [(w.target, w.configuration["flow_sid"]) for w in webhooks] == [("studio", seed.STUDIO_FLOW_SID)]
    assert [m.sid for m in await messages_in(client, result.conversation_sid)] == [result.message_sid]
    until_replied(sim)
    [task] = await tasks_for(client, result.conversation_sid)  # the reply reached an agent
    assert task.assignment_status == "reserved"


@pytest.mark.parametrize("mode", WAIT_MODES)
async def test_wait_mode_reply_route_failing_twice_says_the_message_went_but_no_reply_route(
    sim: Simulator, client: Client, service: OutboundService, mode: SendMode
) -> None:
    sim.fault(WEBHOOKS, method="POST", times=2, status=500)

    with pytest.raises(SendFailed) as failed:
        await service.send(draft(service, mode, body="Hello"))

    assert failed.value.reached_customer is True
    assert "The message was sent" in str(failed.value)
    assert "A reply would reach no agent." in str(failed.value)
    [conversation_sid] = await open_conversations(client, JANE.address, SMS_SENDER)
    [message] = await messages_in(client, conversation_sid)
    assert message.body == "Hello"


@pytest.mark.parametrize("step", [CWP, INTERACTIONS])
@pytest.mark.parametrize("failure", FAILURES)
async def test_failure_creating_the_conversation_leaves_nothing_behind(
    sim: Simulator, client: Client, service: OutboundService, step: str, failure: dict[str, Any]
) -> None:
    mode = SendMode.OPEN_CHAT if step == INTERACTIONS else SendMode.WAIT_ANY
    sim.fault(step, method="POST", **failure)
    expected = TwilioError if failure.get("status") == 400 else TwilioUnavailable

    with pytest.raises(SendFailed) as failed:
        await service.send(draft(service, mode))

    assert failed.value.reached_customer is False and str(failed.value).endswith(" Nothing reached the customer.")
    assert type(failed.value.cause) is expected
    assert [c.sid for c in await client.conversations.v1.conversations.list_async()] == list(seed.HISTORY_SIDS)
    assert await client.taskrouter.v1.workspaces(seed.WORKSPACE_SID).tasks.list_async() == []
    assert not [e for e in sim.world.log if e.path.endswith("/Messages")]


@pytest.mark.parametrize("mode", list(SendMode))
async def test_message_committed_but_answer_lost_counts_as_sent_once(
    sim: Simulator, client: Client, service: OutboundService, mode: SendMode
) -> None:
    sim.fault(MESSAGES, method="POST", kind="drop")

    result = await service.send(draft(service, mode, body="Exactly once"))

    [message] = await messages_in(client, result.conversation_sid)
    assert (message.sid, message.body) == (result.message_sid, "Exactly once")
    assert len([e for e in sim.world.log if e.method == "POST" and e.path.endswith("/Messages")]) == 1
    assert await delivered(sim, client, result) == ["delivered"]


async def test_open_chat_whose_create_answer_was_lost_finds_its_chat_and_sends_once(
    sim: Simulator, client: Client, service: OutboundService
) -> None:
    """Flex made the conversation and my task but the answer never came: no orphan, no refusal of my own retry."""
    sim.fault(INTERACTIONS, method="POST", kind="drop")

    result = await service.send(draft(service, SendMode.OPEN_CHAT, body="Hello"))

    assert await open_conversations(client, JANE.address, SMS_SENDER) == [result.conversation_sid]
    [task] = await tasks_for(client, result.conversation_sid)
    assert (task.sid, task.assignment_status) == (result.task_sid, "reserved")
    assert await holding_worker(client, task.sid) == ALICE.sid
    assert result.interaction_sid == json.loads(task.attributes)["flexInteractionSid"]
    [message] = await messages_in(client, result.conversation_sid)
    assert (message.sid, message.body) == (result.message_sid, "Hello")
    assert len([e for e in sim.world.log if e.method == "POST" and e.path == INTERACTIONS]) == 1


async def test_open_chat_lost_answer_with_a_message_failure_still_closes_the_chat(
    sim: Simulator, client: Client, service: OutboundService
) -> None:
    sim.fault(INTERACTIONS, method="POST", kind="drop")
    sim.fault(MESSAGES, method="POST", status=500)

    with pytest.raises(SendFailed) as failed:
        await service.send(draft(service, SendMode.OPEN_CHAT, body="Hello"))

    assert failed.value.reached_customer is False
    assert await open_conversations(client, JANE.address, SMS_SENDER) == []
    assert live(await client.taskrouter.v1.workspaces(seed.WORKSPACE_SID).tasks.list_async()) == []


@pytest.mark.parametrize("mode", WAIT_MODES)
async def test_wait_mode_whose_create_answer_was_lost_uses_the_conversation_it_made(
    sim: Simulator, client: Client, make_service: MakeService, mode: SendMode
) -> None:
    carol = await make_service(CAROL.friendly_name)
    sim.fault(CWP, method="POST", kind="drop")

    result = await carol.send(draft(carol, mode, body="Hello"))

    assert await open_conversations(client, JANE.address, SMS_SENDER) == [result.conversation_sid]
    attributes = await conversation_attributes(client, result.conversation_sid)
    assert attributes["KnownAgentRoutingFlag"] is (mode is SendMode.WAIT_ME)
    [message] = await messages_in(client, result.conversation_sid)
    assert (message.sid, message.body) == (result.message_sid, "Hello")
    until_replied(sim)
    [task] = await tasks_for(client, result.conversation_sid)
    assert await holding_worker(client, task.sid) == (CAROL.sid if mode is SendMode.WAIT_ME else ALICE.sid)


@pytest.mark.parametrize("mode", list(SendMode))
async def test_lost_create_answer_that_made_nothing_is_reported_unavailable(
    sim: Simulator, client: Client, service: OutboundService, mode: SendMode
) -> None:
    """A reset before Twilio did anything: the look-up finds nothing, so the send fails with nothing behind."""
    sim.fault(INTERACTIONS if mode is SendMode.OPEN_CHAT else CWP, method="POST", kind="reset")

    with pytest.raises(SendFailed, match="Nothing reached the customer.") as failed:
        await service.send(draft(service, mode))

    assert isinstance(failed.value.cause, TwilioUnavailable) and failed.value.reached_customer is False
    assert [c.sid for c in await client.conversations.v1.conversations.list_async()] == list(seed.HISTORY_SIDS)


# == invalid input ================================================================================

SEED_PAYLOAD = {"destination": "+1 415 555 0100", "callerId": SMS_SENDER, "body": "Hello",
                "contentTemplateSid": None, "openChat": False, "routeToMe": False}
INVALID = [
    pytest.param({"destination": "+1 415 555 01"}, "destination", id="bad-number"),
    pytest.param({"destination": "415 JANE DOE"}, "destination", id="letters"),
    pytest.param({"callerId": "+15017129999"}, "sender", id="unknown-sender"),
    pytest.param({"callerId": WA_SENDER}, "sender", id="whatsapp-sender-on-sms"),
    pytest.param({"body": "  \n "}, "body", id="blank-body"),
    pytest.param({"body": "x" * 1601}, "body", id="body-over-1600"),
    pytest.param({"contentTemplateSid": REMINDER.sid}, "body", id="body-and-template"),
    pytest.param({"body": None, "contentTemplateSid": "HX123"}, "template", id="malformed-template-sid"),
]
MODE_FLAGS = [{"openChat": True}, {"routeToMe": True}, {}]


@pytest.mark.parametrize(("change", "field"), INVALID)
async def test_invalid_input_makes_no_request(
    sim: Simulator, service: OutboundService, change: dict[str, Any], field: str
) -> None:
    bus = ActionBus()
    service.register_actions(bus)
    before = len(sim.world.log)
    for flags in MODE_FLAGS:
        payload = {**SEED_PAYLOAD, **change, **flags}
        with pytest.raises(InvalidSend) as direct:
            await service.send_payload(SendOutboundMessagePayload.model_validate(payload))
        with pytest.raises(InvalidSend) as through_bus:
            await bus.invoke(SEND_OUTBOUND_MESSAGE, payload)
        assert direct.value.field == through_bus.value.field == field
        assert str(direct.value) == str(through_bus.value)
    assert len(sim.world.log) == before


async def test_blank_destination_is_refused_by_the_rules_before_any_request(
    sim: Simulator, service: OutboundService
) -> None:
    bus = ActionBus()
    service.register_actions(bus)
    before = len(sim.world.log)
    with pytest.raises(InvalidSend, match="^Type the customer's phone number.$"):
        await bus.invoke(SEND_OUTBOUND_MESSAGE, {**SEED_PAYLOAD, "destination": "   "})
    assert len(sim.world.log) == before


# == the action bus ================================================================================


@pytest.fixture
def bus(service: OutboundService) -> ActionBus:
    bus = ActionBus()
    service.register_actions(bus)
    return bus


async def test_send_action_sends_the_seed_payload(sim: Simulator, client: Client, bus: ActionBus) -> None:
    result = await bus.invoke(SEND_OUTBOUND_MESSAGE, {**SEED_PAYLOAD, "openChat": True})
    assert isinstance(result, SendResult) and result.mode is SendMode.OPEN_CHAT
    [task] = await tasks_for(client, result.conversation_sid)
    assert await holding_worker(client, task.sid) == ALICE.sid


async def test_before_listener_veto_stops_the_send_before_any_request(sim: Simulator, bus: ActionBus) -> None:
    async def no_sends_after_hours(payload: SendOutboundMessagePayload) -> None:
        raise ActionVetoed("Outbound messages are paused after hours.")

    bus.add_listener("before", SEND_OUTBOUND_MESSAGE, no_sends_after_hours)
    before = len(sim.world.log)
    with pytest.raises(ActionVetoed, match="paused after hours"):
        await bus.invoke(SEND_OUTBOUND_MESSAGE, SEED_PAYLOAD)
    assert len(sim.world.log) == before


async def test_before_listener_rewrites_what_the_customer_receives(
    sim: Simulator, client: Client, bus: ActionBus
) -> None:
    async def polite(payload: SendOutboundMessagePayload) -> SendOutboundMessagePayload:
        return payload.model_copy(update={"body": f"Good morning! {payload.body}"})

    bus.add_listener("before", SEND_OUTBOUND_MESSAGE, polite)
    result = await bus.invoke(SEND_OUTBOUND_MESSAGE, SEED_PAYLOAD)
    assert [m.body for m in await messages_in(client, result.conversation_sid)] == ["Good morning! Hello"]


async def test_replaced_handler_wraps_the_send(sim: Simulator, client: Client, bus: ActionBus) -> None:
    async def signed(payload: SendOutboundMessagePayload, original: Any) -> SendResult:
        return await original(payload.model_copy(update={"body": f"{payload.body}\n— Alice, Owl Bank"}))

    bus.replace(SEND_OUTBOUND_MESSAGE, signed)
    result = await bus.invoke(SEND_OUTBOUND_MESSAGE, {**SEED_PAYLOAD, "routeToMe": True})
    assert result.mode is SendMode.WAIT_ME
    assert [m.body for m in await messages_in(client, result.conversation_sid)] == ["Hello\n— Alice, Owl Bank"]


async def test_replaced_handler_can_skip_the_send(sim: Simulator, bus: ActionBus) -> None:
    async def dry_run(payload: SendOutboundMessagePayload, original: Any) -> str:
        return "not sent"

    bus.replace(SEND_OUTBOUND_MESSAGE, dry_run)
    before = len(sim.world.log)
    assert await bus.invoke(SEND_OUTBOUND_MESSAGE, SEED_PAYLOAD) == "not sent"
    assert len(sim.world.log) == before


async def test_after_listener_sees_the_send_result(sim: Simulator, bus: ActionBus) -> None:
    seen: list[tuple[SendOutboundMessagePayload, Any]] = []

    async def record(payload: SendOutboundMessagePayload, result: Any) -> None:
        seen.append((payload, result))

    bus.add_listener("after", SEND_OUTBOUND_MESSAGE, record)
    result = await bus.invoke(SEND_OUTBOUND_MESSAGE, {**SEED_PAYLOAD, "openChat": True})
    [(payload, reported)] = seen
    assert reported is result and isinstance(reported, SendResult)
    assert payload.destination == "+1 415 555 0100" and payload.mode == "open_chat"
    assert reported.task_sid and reported.message_sid


@pytest.mark.parametrize("mode", WAIT_MODES)
async def test_wait_mode_into_an_existing_conversation_whose_answer_is_lost_is_sent_once(
    sim: Simulator, client: Client, service: OutboundService, mode: SendMode
) -> None:
    first = await service.send(draft(service, SendMode.WAIT_ANY, body="First"))
    sim.fault(MESSAGES, method="POST", kind="drop")

    result = await service.send(draft(service, mode, body="Second"))

    assert result.reused and result.conversation_sid == first.conversation_sid
    assert [m.body for m in await messages_in(client, first.conversation_sid)] == ["First", "Second"]


@pytest.mark.parametrize("mode", [SendMode.OPEN_CHAT, SendMode.WAIT_ME])
async def test_failed_send_into_an_existing_conversation_keeps_it_and_reaches_no_one(
    sim: Simulator, client: Client, service: OutboundService, mode: SendMode
) -> None:
    first = await service.send(draft(service, SendMode.WAIT_ANY, body="First"))
    sim.fault(MESSAGES, method="POST", status=500)

    with pytest.raises(SendFailed) as failed:
        await service.send(draft(service, mode, body="Second"))

    assert failed.value.reached_customer is False
    # The conversation predates this send: only what the send made (a chat task) is undone.
    assert live(await tasks_for(client, first.conversation_sid)) == []
    assert await open_conversations(client, JANE.address, SMS_SENDER) == [first.conversation_sid]
    assert [m.body for m in await messages_in(client, first.conversation_sid)] == ["First"]
