"""The simulator's Flex Interactions API and the seed's Studio "Send to Flex" flow.

Interactions go through the real twilio SDK over HTTP (every exchange is checked against Twilio's
OpenAPI spec by the `sim` fixture); conversations are set up and inspected through the simulator's
Conversations domain.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from sim import seed
from sim.conversations_models import Conversation
from sim.flex import flex_identity
from sim.server import Simulator

WS = seed.WORKSPACE_SID
ALICE, BOB, CAROL, DAVE = seed.WORKERS
JANE, OMAR, MEI = (c.address for c in seed.CUSTOMERS[:3])
SMS_SENDER = seed.SMS_SENDERS[0]
WA_SENDER = seed.WHATSAPP_SENDERS[0]


def routing(worker: seed.Worker | None = None, **attributes: Any) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "workspace_sid": WS, "workflow_sid": seed.WORKFLOW_SID, "queue_sid": seed.QUEUE_SID,
        "task_channel_unique_name": "chat", "attributes": attributes,
    }
    if worker is not None:
        properties["worker_sid"] = worker.sid
    return {"properties": properties}


def conversation_with(sim: Simulator, customer: str = JANE, sender: str = SMS_SENDER,
                      attributes: dict[str, Any] | None = None) -> Conversation:
    conversations = sim.world.conversations
    conversation = conversations.create_conversation(attributes=json.dumps(attributes or {}))
    conversations.add_participant(conversation.sid, address=customer, proxy_address=sender)
    return conversation


async def open_chat(client: Client, conversation_sid: str, worker: seed.Worker = ALICE, kind: str = "sms") -> Any:
    """The seed plugin's "open chat": attach the conversation, route to the sending agent."""
    return await client.flex_api.v1.interaction.create_async(
        channel={"type": kind, "initiated_by": "agent", "properties": {"media_channel_sid": conversation_sid}},
        routing=routing(worker, direction="outbound", customerName="Customer", customerAddress=JANE),
    )


def task_of(interaction: Any) -> dict[str, Any]:
    return interaction.routing["properties"]


def attributes_of(interaction: Any) -> dict[str, Any]:
    return json.loads(task_of(interaction)["attributes"])


async def accept(client: Client, task_sid: str) -> Any:
    workspace = client.taskrouter.v1.workspaces(WS)
    [reservation] = await workspace.tasks(task_sid).reservations.list_async(reservation_status="pending")
    return await workspace.tasks(task_sid).reservations(reservation.sid).update_async(reservation_status="accepted")


async def task_status(client: Client, task_sid: str) -> str:
    return (await client.taskrouter.v1.workspaces(WS).tasks(task_sid).fetch_async()).assignment_status


async def rest_error(call: Awaitable[Any]) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as raised:
        await call
    return raised.value


# ---------------------------------------------------------------------- Flex identities


@pytest.mark.parametrize(
    "name, identity",
    [
        ("alice@example.com", "alice_40example_2Ecom"),
        ("dave.o'brien+flex@example.com", "dave_2Eo_27brien_2Bflex_40example_2Ecom"),
        ("under_score", "under_5Fscore"),
        ("josé", "jos_C3_A9"),
        ("Plain42", "Plain42"),
    ],
)
def test_flex_identity_escapes_every_non_alphanumeric_character(name: str, identity: str) -> None:
    assert flex_identity(name) == identity


# ---------------------------------------------------------------------- creating interactions


async def test_open_chat_on_an_existing_conversation(sim: Simulator, client: Client) -> None:
    conversation = conversation_with(sim)
    created = await client.flex_api.v1.interaction.create_with_http_info_async(
        channel={"type": "sms", "initiated_by": "agent", "properties": {"media_channel_sid": conversation.sid}},
        routing=routing(CAROL, direction="outbound", customerName="Customer", customerAddress=JANE, from_=JANE),
    )
    assert created.status_code == 200  # Interactions answer 200, not 201
    interaction = created.data
    assert interaction.sid.startswith("KD")
    assert interaction.channel["type"] == "sms" and interaction.channel["sid"].startswith("UO")
    assert interaction.url == f"https://flex-api.twilio.com/v1/Interactions/{interaction.sid}"
    assert interaction.links == {"channels": f"{interaction.url}/Channels"}
    task = task_of(interaction)
    assert interaction.routing["reservation"] is None
    assert task["sid"].startswith("WT") and task["assignment_status"] == "pending"  # as created, before routing
    assert (task["routing_target"], task["queue_sid"], task["workflow_sid"]) == (
        CAROL.sid, seed.QUEUE_SID, seed.WORKFLOW_SID)
    assert isinstance(task["date_created"], int) and task["date_created"] == int(sim.world.now())
    assert task["task_channel_unique_name"] == "chat"
    attributes = attributes_of(interaction)
    assert attributes["conversationSid"] == conversation.sid
    assert attributes["flexInteractionSid"] == interaction.sid
    assert attributes["flexInteractionChannelSid"] == interaction.channel["sid"]
    assert attributes["flexChannelInviteSid"].startswith("KG")
    assert (attributes["channelType"], attributes["initiatedBy"], attributes["direction"]) == (
        "sms", "agent", "outbound")
    assert (attributes["customerName"], attributes["customerAddress"], attributes["from_"]) == ("Customer", JANE, JANE)
    assert attributes["conversations"] == {
        "conversation_id": interaction.sid, "initiated_by": "agent",
        "media": [{"type": "ChatTranscript", "sid": conversation.sid}],
    }
    # Routed right after: the task is reserved for the agent who asked for it.
    tasks = await client.taskrouter.v1.workspaces(WS).tasks.list_async(
        evaluate_task_attributes=f'conversationSid == "{conversation.sid}"'
    )
    assert [(t.sid, t.assignment_status) for t in tasks] == [(task["sid"], "reserved")]
    fetched = await client.flex_api.v1.interaction(interaction.sid).fetch_async()
    assert fetched.routing == interaction.routing


async def test_interaction_with_participants_creates_the_conversation(sim: Simulator, client: Client) -> None:
    interaction = await client.flex_api.v1.interaction.create_async(
        channel={"type": "whatsapp", "initiated_by": "agent",
                 "participants": [{"address": MEI, "proxy_address": WA_SENDER}]},
        routing=routing(ALICE),
    )
    attributes = attributes_of(interaction)
    conversation = sim.world.conversations.conversation(attributes["conversationSid"])
    customer = conversation.customer
    assert (customer.address, customer.proxy_address, customer.channel) == (
        f"whatsapp:{MEI}", f"whatsapp:{WA_SENDER}", "whatsapp")
    assert attributes["customerAddress"] == attributes["customerName"] == f"whatsapp:{MEI}"
    assert (attributes["channelType"], attributes["direction"]) == ("whatsapp", "outbound")
    inside_properties = await client.flex_api.v1.interaction.create_async(
        channel={"type": "sms", "initiated_by": "agent",
                 "properties": {"participants": [{"address": OMAR, "proxy_address": SMS_SENDER}]}},
        routing=routing(),
    )
    assert sim.world.conversations.active_conversation_for(OMAR, SMS_SENDER).sid == (
        attributes_of(inside_properties)["conversationSid"])


async def test_a_taken_binding_fails_with_a_flex_error_naming_the_conversation(sim: Simulator, client: Client) -> None:
    existing = conversation_with(sim)
    error = await rest_error(client.flex_api.v1.interaction.create_async(
        channel={"type": "sms", "initiated_by": "agent",
                 "participants": [{"address": JANE, "proxy_address": SMS_SENDER}]},
        routing=routing(ALICE),
    ))
    assert (error.status, error.code) == (409, 45361)
    assert f"binding for this participant and proxy address already exists in Conversation {existing.sid}" in error.msg
    assert sim.world.conversations.active_conversation_for(JANE, SMS_SENDER) is existing
    assert [c.sid for c in sim.world.conversations.conversations.values() if c.state != "closed"] == [existing.sid]
    assert sim.world.taskrouter.tasks == {}


@pytest.mark.parametrize(
    "channel, routing_, status, code",
    [
        ({"type": "fax", "initiated_by": "agent", "properties": {}}, routing(), 400, 20001),
        ({"type": "sms", "initiated_by": "robot", "properties": {}}, routing(), 400, 20001),
        ({"type": "sms", "initiated_by": "agent", "properties": {}}, routing(), 400, 45355),
        ({"type": "sms", "initiated_by": "agent", "participants": [{"address": JANE}]}, routing(), 400, 45367),
        ({"type": "sms", "initiated_by": "agent", "participants": [{"address": JANE, "proxy_address": SMS_SENDER}]},
         {"properties": {"workflow_sid": seed.fixed_sid("WW", 9)}}, 400, 20001),
        ({"type": "sms", "initiated_by": "agent", "participants": [{"address": JANE, "proxy_address": SMS_SENDER}]},
         routing(seed.Worker(seed.fixed_sid("WK", 9), "x", "x", seed.AVAILABLE)), 400, 20001),
        ({"type": "sms", "initiated_by": "agent", "participants": [{"address": JANE, "proxy_address": SMS_SENDER}]},
         {"routing": "no properties"}, 400, 20001),
        ({"type": "sms", "initiated_by": "agent", "properties": {"media_channel_sid": seed.fixed_sid("CH", 9)}},
         routing(), 404, 20404),
    ],
)
async def test_bad_interactions_are_refused_and_leave_nothing_behind(
    sim: Simulator, client: Client, channel: dict[str, Any], routing_: dict[str, Any], status: int, code: int
) -> None:
    error = await rest_error(client.flex_api.v1.interaction.create_async(channel=channel, routing=routing_))
    assert (error.status, error.code) == (status, code)
    assert list(sim.world.conversations.conversations) == list(seed.HISTORY_SIDS)
    assert sim.world.taskrouter.tasks == {}


# ---------------------------------------------------------------------- channels, invites, participants


async def test_channels_list_and_fetch(sim: Simulator, client: Client) -> None:
    interaction = await open_chat(client, conversation_with(sim).sid)
    channels = await client.flex_api.v1.interaction(interaction.sid).channels.list_async()
    assert [(c.sid, c.type, c.status) for c in channels] == [(interaction.channel["sid"], "sms", "active")]
    channel = await client.flex_api.v1.interaction(interaction.sid).channels(channels[0].sid).fetch_async()
    assert channel.url == f"https://flex-api.twilio.com/v1/Interactions/{interaction.sid}/Channels/{channel.sid}"
    assert channel.links["invites"] == f"{channel.url}/Invites"
    missing = await rest_error(client.flex_api.v1.interaction(seed.fixed_sid("KD", 9)).fetch_async())
    assert (missing.status, missing.code) == (404, 20404)
    other_channel = client.flex_api.v1.interaction(interaction.sid).channels(seed.fixed_sid("UO", 9))
    missing = await rest_error(other_channel.fetch_async())
    assert missing.code == 20404


async def test_accepting_adds_the_agent_to_the_conversation(sim: Simulator, client: Client) -> None:
    conversation = conversation_with(sim)
    interaction = await open_chat(client, conversation.sid, worker=ALICE)
    channel = client.flex_api.v1.interaction(interaction.sid).channels(interaction.channel["sid"])
    assert [p.type for p in await channel.participants.list_async()] == ["customer"]
    assert [p.identity for p in conversation.participants.values()] == [None]
    reservation = await accept(client, task_of(interaction)["sid"])
    agents = [p for p in conversation.participants.values() if p.identity is not None]
    assert [(p.identity, p.channel) for p in agents] == [("alice_40example_2Ecom", None)]
    participants = await channel.participants.list_async()
    assert [p.type for p in participants] == ["customer", "agent"]
    assert participants[0].routing_properties is None
    assert participants[1].routing_properties == {
        "task_sid": task_of(interaction)["sid"], "worker_sid": ALICE.sid, "reservation_sid": reservation.sid,
    }


async def test_closing_the_channel_wraps_tasks_and_closes_the_conversation(sim: Simulator, client: Client) -> None:
    conversation = conversation_with(sim)
    interaction = await open_chat(client, conversation.sid)
    task_sid = task_of(interaction)["sid"]
    await accept(client, task_sid)
    channel = client.flex_api.v1.interaction(interaction.sid).channels(interaction.channel["sid"])
    closed = await channel.update_async(status="closed")
    assert closed.status == "closed"
    assert await task_status(client, task_sid) == "wrapping"
    assert conversation.state == "closed"


async def test_closing_with_routing_closed_completes_tasks(sim: Simulator, client: Client) -> None:
    conversation = conversation_with(sim)
    interaction = await open_chat(client, conversation.sid)
    task_sid = task_of(interaction)["sid"]
    await accept(client, task_sid)
    channel = client.flex_api.v1.interaction(interaction.sid).channels(interaction.channel["sid"])
    await channel.update_async(status="closed", routing={"status": "closed"})
    task = await client.taskrouter.v1.workspaces(WS).tasks(task_sid).fetch_async()
    assert (task.assignment_status, task.reason) == ("completed", "Interaction channel closed")


async def test_an_inactive_channel_needs_routing_and_keeps_the_conversation(sim: Simulator, client: Client) -> None:
    conversation = conversation_with(sim)
    interaction = await open_chat(client, conversation.sid)
    channel = client.flex_api.v1.interaction(interaction.sid).channels(interaction.channel["sid"])
    error = await rest_error(channel.update_async(status="inactive"))
    assert error.status == 400
    error = await rest_error(channel.update_async(status="inactive", routing={"status": "wrapping"}))
    assert error.status == 400
    inactive = await channel.update_async(status="inactive", routing={"status": "closed"})
    assert inactive.status == "inactive"
    assert await task_status(client, task_of(interaction)["sid"]) == "canceled"  # never accepted: canceled
    assert conversation.state == "active"


async def test_invites_create_further_tasks_on_the_channel(sim: Simulator, client: Client) -> None:
    conversation = conversation_with(sim)
    interaction = await open_chat(client, conversation.sid, worker=ALICE)
    channel = client.flex_api.v1.interaction(interaction.sid).channels(interaction.channel["sid"])
    first = await channel.invites.list_async()
    assert [i.sid for i in first] == [attributes_of(interaction)["flexChannelInviteSid"]]
    invite = await channel.invites.create_async(routing=routing(BOB, transfer=True))
    assert invite.sid.startswith("KG") and invite.channel_sid == channel._solution["sid"]
    assert invite.url.endswith(f"/Channels/{invite.channel_sid}/Invites/{invite.sid}")
    new_task = invite.routing["properties"]
    attributes = json.loads(new_task["attributes"])
    assert (attributes["flexChannelInviteSid"], attributes["conversationSid"], attributes["transfer"]) == (
        invite.sid, conversation.sid, True)
    assert [i.sid for i in await channel.invites.list_async()] == [first[0].sid, invite.sid]
    assert await task_status(client, new_task["sid"]) == "reserved"
    assert len(sim.world.taskrouter.tasks_for_conversation(conversation.sid)) == 2


async def test_agent_participant_wrapup_then_closed(sim: Simulator, client: Client) -> None:
    conversation = conversation_with(sim)
    interaction = await open_chat(client, conversation.sid)
    task_sid = task_of(interaction)["sid"]
    await accept(client, task_sid)
    channel = client.flex_api.v1.interaction(interaction.sid).channels(interaction.channel["sid"])
    customer, agent = await channel.participants.list_async()
    error = await rest_error(channel.participants(customer.sid).update_async(status="closed"))
    assert error.status == 400
    await channel.participants(agent.sid).update_async(status="wrapup")
    assert await task_status(client, task_sid) == "wrapping"
    assert "alice_40example_2Ecom" in [p.identity for p in conversation.participants.values()]
    await channel.participants(agent.sid).update_async(status="closed")
    assert await task_status(client, task_sid) == "completed"
    assert [p.identity for p in conversation.participants.values()] == [None]  # the agent left the conversation


# ---------------------------------------------------------------------- Studio "Send to Flex"


def studio_conversation(sim: Simulator, attributes: dict[str, Any] | None = None,
                        flow_sid: str = seed.STUDIO_FLOW_SID, customer: str = JANE) -> Conversation:
    conversation = conversation_with(sim, customer=customer, attributes=attributes)
    sim.world.conversations.add_webhook(conversation.sid, target="studio", configuration={"flow_sid": flow_sid})
    return conversation


async def test_a_customer_reply_is_sent_to_flex_with_the_known_agent_flags(sim: Simulator, client: Client) -> None:
    # The seed plugin writes the flag as a JSON boolean; Studio's Liquid template makes it the string "true".
    conversation = studio_conversation(sim, {"KnownAgentRoutingFlag": True, "KnownAgentWorkerSid": CAROL.sid})
    sim.world.customers.say(conversation.sid, "Yes, call me")
    tasks = await client.taskrouter.v1.workspaces(WS).tasks.list_async(
        evaluate_task_attributes=f'conversationSid == "{conversation.sid}"'
    )
    assert len(tasks) == 1
    attributes = json.loads(tasks[0].attributes)
    assert (attributes["KnownAgentRoutingFlag"], attributes["KnownAgentWorkerSid"]) == ("true", CAROL.sid)
    assert (attributes["channelType"], attributes["customerAddress"], attributes["from"]) == ("sms", JANE, JANE)
    assert (attributes["direction"], attributes["initiatedBy"]) == ("inbound", "customer")
    assert attributes["flexInteractionSid"] in sim.world.flex.interactions
    assert tasks[0].assignment_status == "reserved"
    reservations = await client.taskrouter.v1.workspaces(WS).tasks(tasks[0].sid).reservations.list_async()
    assert [r.worker_sid for r in reservations] == [CAROL.sid]
    assert conversation.webhooks == {}  # handed to Flex: the Studio webhook is gone
    sim.world.customers.say(conversation.sid, "Hello? Anyone?")
    assert len(sim.world.taskrouter.tasks_for_conversation(conversation.sid)) == 1


async def test_a_reply_without_flags_goes_to_the_queue(sim: Simulator, client: Client) -> None:
    conversation = studio_conversation(sim, {"KnownAgentRoutingFlag": False, "KnownAgentWorkerSid": CAROL.sid})
    sim.world.customers.say(conversation.sid, "Hi")
    [task] = sim.world.taskrouter.tasks_for_conversation(conversation.sid)
    assert task.attributes["KnownAgentRoutingFlag"] == "false"
    assert task.active_reservation().worker.sid == ALICE.sid
    unflagged = studio_conversation(sim, customer=OMAR)
    sim.world.customers.say(unflagged.sid, "Hi")
    [other] = sim.world.taskrouter.tasks_for_conversation(unflagged.sid)
    assert (other.attributes["KnownAgentRoutingFlag"], other.attributes["KnownAgentWorkerSid"]) == ("", "")


async def test_no_studio_webhook_no_task(sim: Simulator, client: Client) -> None:
    conversation = conversation_with(sim, attributes={"KnownAgentRoutingFlag": True, "KnownAgentWorkerSid": BOB.sid})
    sim.world.customers.say(conversation.sid, "Hi")
    assert sim.world.taskrouter.tasks_for_conversation(conversation.sid) == []


async def test_an_unknown_flow_never_runs(sim: Simulator, client: Client) -> None:
    conversation = studio_conversation(sim, flow_sid=seed.fixed_sid("FW", 9))
    sim.world.customers.say(conversation.sid, "Hi")
    assert sim.world.taskrouter.tasks_for_conversation(conversation.sid) == []
    assert len(conversation.webhooks) == 1


async def test_a_live_task_stops_studio_from_creating_another(sim: Simulator, client: Client) -> None:
    conversation = studio_conversation(sim)
    interaction = await open_chat(client, conversation.sid)
    sim.world.customers.say(conversation.sid, "Hi")
    tasks = sim.world.taskrouter.tasks_for_conversation(conversation.sid)
    assert [t.sid for t in tasks] == [task_of(interaction)["sid"]]
    assert len(conversation.webhooks) == 1  # Studio did not run, so it did not hand over either
