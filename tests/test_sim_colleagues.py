"""Simulated colleagues: seeded workers nobody sits at accept the reservations offered to them.

The `sim` fixture here runs on a manual clock with colleagues accepting 4 s after an offer and Alice
as the human at a terminal. Tasks and reservations go through the real twilio SDK over HTTP.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from twilio.rest import Client

from sim import seed
from sim.conversations_models import Conversation
from sim.flex import flex_identity
from sim.server import Simulator
from sim.world import SimConfig, World

WS = seed.WORKSPACE_SID
ALICE, BOB, CAROL, DAVE = seed.WORKERS
JANE = seed.CUSTOMERS[0].address
SMS_SENDER = seed.SMS_SENDERS[0]
ACCEPT_DELAY = 4.0


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(manual_clock=True, random_seed=1234, customer_reply_delay=2.0, delivery_delay=0.5,
                     colleague_accept_delay=ACCEPT_DELAY, humans=frozenset({ALICE.friendly_name}))


def workspace(client: Client) -> Any:
    return client.taskrouter.v1.workspaces(WS)


async def new_task(client: Client, worker: seed.Worker | None = None, **attributes: Any) -> Any:
    kwargs = {"routing_target": worker.sid} if worker is not None else {}
    return await workspace(client).tasks.create_async(
        attributes=json.dumps(attributes), workflow_sid=seed.WORKFLOW_SID, task_channel="chat", **kwargs
    )


async def reservations(client: Client, task_sid: str) -> list[tuple[str, str]]:
    """(worker SID, status) of every reservation of the task, oldest first."""
    found = await workspace(client).tasks(task_sid).reservations.list_async()
    return [(r.worker_sid, r.reservation_status) for r in found]


async def status_of(client: Client, task_sid: str) -> str:
    return (await workspace(client).tasks(task_sid).fetch_async()).assignment_status


def conversation_with_jane(sim: Simulator, attributes: dict[str, Any] | None = None) -> Conversation:
    conversations = sim.world.conversations
    conversation = conversations.create_conversation(attributes=json.dumps(attributes or {}))
    conversations.add_participant(conversation.sid, address=JANE, proxy_address=SMS_SENDER)
    return conversation


def agents_in(conversation: Conversation) -> list[str]:
    return [p.identity for p in conversation.participants.values() if p.identity is not None]


async def test_a_colleague_accepts_after_the_delay_and_joins_the_chat(sim: Simulator, client: Client) -> None:
    conversation = conversation_with_jane(sim)
    interaction = await client.flex_api.v1.interaction.create_async(
        channel={"type": "sms", "initiated_by": "agent", "properties": {"media_channel_sid": conversation.sid}},
        routing={"properties": {"workspace_sid": WS, "workflow_sid": seed.WORKFLOW_SID, "worker_sid": BOB.sid,
                                "task_channel_unique_name": "chat", "attributes": {"customerAddress": JANE}}},
    )
    task_sid = interaction.routing["properties"]["sid"]
    assert await reservations(client, task_sid) == [(BOB.sid, "pending")]

    sim.world.clock.advance(ACCEPT_DELAY - 0.01)
    assert await reservations(client, task_sid) == [(BOB.sid, "pending")]
    assert await status_of(client, task_sid) == "reserved"
    assert agents_in(conversation) == []

    sim.world.clock.advance(0.02)
    assert await reservations(client, task_sid) == [(BOB.sid, "accepted")]
    assert await status_of(client, task_sid) == "assigned"
    # As for a REST accept, Flex adds the agent to the conversation and the interaction channel.
    assert agents_in(conversation) == [flex_identity(BOB.friendly_name)]
    channel = client.flex_api.v1.interaction(interaction.sid).channels(interaction.channel["sid"])
    agent = [p for p in await channel.participants.list_async() if p.type == "agent"]
    assert [p.routing_properties["worker_sid"] for p in agent] == [BOB.sid]


async def test_a_reply_routed_to_any_agent_is_accepted_by_a_colleague(sim: Simulator, client: Client) -> None:
    # As the panel's "route the reply to any agent" sets it up: the flag off, the Studio webhook on.
    conversation = conversation_with_jane(sim, {"KnownAgentRoutingFlag": False, "KnownAgentWorkerSid": ""})
    sim.world.conversations.add_webhook(conversation.sid, target="studio",
                                        configuration={"flow_sid": seed.STUDIO_FLOW_SID})
    # Alice (the human) took a task a moment ago, so the longest idle worker is Bob.
    alices = await new_task(client, ALICE)
    [offer] = await workspace(client).tasks(alices.sid).reservations.list_async()
    await workspace(client).tasks(alices.sid).reservations(offer.sid).update_async(reservation_status="accepted")
    sim.world.customers.say(conversation.sid, "Yes, I can talk now")
    [task] = sim.world.taskrouter.tasks_for_conversation(conversation.sid)
    assert await reservations(client, task.sid) == [(BOB.sid, "pending")]
    sim.world.clock.advance(ACCEPT_DELAY)
    assert await reservations(client, task.sid) == [(BOB.sid, "accepted")]
    assert await status_of(client, task.sid) == "assigned"
    assert agents_in(conversation) == [flex_identity(BOB.friendly_name)]


async def test_a_humans_reservation_is_never_accepted_for_them(sim: Simulator, client: Client) -> None:
    task = await new_task(client, ALICE)
    sim.world.clock.advance(sim.world.config.reservation_timeout - 1)
    assert await reservations(client, task.sid) == [(ALICE.sid, "pending")]
    assert await status_of(client, task.sid) == "reserved"


async def test_a_reservation_rejected_before_the_delay_stays_rejected(sim: Simulator, client: Client) -> None:
    task = await new_task(client, BOB)  # only Bob may take it: a rejection leaves it waiting
    [reservation] = await workspace(client).tasks(task.sid).reservations.list_async()
    sim.world.clock.advance(1)
    await workspace(client).tasks(task.sid).reservations(reservation.sid).update_async(reservation_status="rejected")
    sim.world.clock.advance(ACCEPT_DELAY * 3)
    assert await reservations(client, task.sid) == [(BOB.sid, "rejected")]
    assert await status_of(client, task.sid) == "pending"


async def test_a_rejected_task_goes_on_to_the_next_colleague_who_accepts(sim: Simulator, client: Client) -> None:
    task = await new_task(client)  # the queue: Alice, the longest idle, is offered it first
    [alices] = await workspace(client).tasks(task.sid).reservations.list_async()
    assert alices.worker_sid == ALICE.sid
    sim.world.clock.advance(ACCEPT_DELAY + 1)
    assert await reservations(client, task.sid) == [(ALICE.sid, "pending")]
    await workspace(client).tasks(task.sid).reservations(alices.sid).update_async(reservation_status="rejected")
    assert await reservations(client, task.sid) == [(ALICE.sid, "rejected"), (BOB.sid, "pending")]
    sim.world.clock.advance(ACCEPT_DELAY)
    assert await reservations(client, task.sid) == [(ALICE.sid, "rejected"), (BOB.sid, "accepted")]


async def test_a_canceled_or_deleted_task_is_left_alone(sim: Simulator, client: Client) -> None:
    canceled = await new_task(client, BOB)
    deleted = await new_task(client, CAROL)
    sim.world.clock.advance(1)
    await workspace(client).tasks(canceled.sid).update_async(assignment_status="canceled", reason="changed my mind")
    await workspace(client).tasks(deleted.sid).delete_async()
    sim.world.clock.advance(ACCEPT_DELAY)
    assert await reservations(client, canceled.sid) == [(BOB.sid, "canceled")]
    assert await status_of(client, canceled.sid) == "canceled"
    assert deleted.sid not in sim.world.taskrouter.tasks
    assert [r.status for r in sim.world.taskrouter.reservations.values()] == ["canceled"]


async def test_a_timed_out_reservation_is_left_alone() -> None:
    world = World(SimConfig(manual_clock=True, colleague_accept_delay=10.0, reservation_timeout=5.0))
    task = world.taskrouter.create_task({}, workflow_sid=seed.WORKFLOW_SID, worker_sid=BOB.sid)
    [reservation] = task.reservations
    world.clock.advance(5.0)
    assert reservation.status == "timeout"
    world.clock.advance(10.0)
    assert (reservation.status, task.assignment_status) == ("timeout", "pending")


def test_humans_are_matched_like_friendly_names_ignoring_case() -> None:
    world = World(SimConfig(manual_clock=True, colleague_accept_delay=0.0, humans=frozenset({"BOB@Example.com"})))
    bobs = world.taskrouter.create_task({}, workflow_sid=seed.WORKFLOW_SID, worker_sid=BOB.sid)
    carols = world.taskrouter.create_task({}, workflow_sid=seed.WORKFLOW_SID, worker_sid=CAROL.sid)
    world.clock.advance(0)
    assert (bobs.assignment_status, carols.assignment_status) == ("reserved", "assigned")


def test_by_default_nobody_accepts_anything() -> None:
    world = World(SimConfig(manual_clock=True))
    assert (world.config.colleague_accept_delay, world.config.humans) == (None, frozenset())
    tasks = [world.taskrouter.create_task({}, workflow_sid=seed.WORKFLOW_SID, worker_sid=w.sid)
             for w in (ALICE, BOB, CAROL)]
    world.clock.advance(world.config.reservation_timeout - 1)
    assert [t.assignment_status for t in tasks] == ["reserved"] * 3
    assert [r.status for t in tasks for r in t.reservations] == ["pending"] * 3
