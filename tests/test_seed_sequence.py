"""The seed plugin's own call sequence runs against the simulator and routes the task like Flex would."""

from __future__ import annotations

import json

from twilio.rest import Client

from sim import seed
from sim.server import Simulator
from tests.seed_plugin import plugin_send

JANE = seed.CUSTOMERS[0].address
SMS_SENDER = seed.SMS_SENDERS[0]
ALICE, BOB, CAROL, _ = seed.WORKERS


def _live_tasks(sim: Simulator, conversation_sid: str) -> list:
    return [t for t in sim.world.taskrouter.tasks_for_conversation(conversation_sid)
            if t.assignment_status not in ("canceled", "completed")]


async def _reservation_worker(client: Client, task_sid: str) -> str:
    reservations = await client.taskrouter.v1.workspaces(seed.WORKSPACE_SID).tasks(task_sid).reservations.list_async(
        reservation_status="pending"
    )
    assert len(reservations) == 1
    return reservations[0].worker_sid


async def _task_after_reply(sim: Simulator, client: Client, conversation_sid: str):
    assert _live_tasks(sim, conversation_sid) == []  # nothing routed before the customer answers
    sim.world.clock.advance(10 * sim.world.config.delivery_delay + sim.world.config.customer_reply_delay)
    tasks = await client.taskrouter.v1.workspaces(seed.WORKSPACE_SID).tasks.list_async(
        evaluate_task_attributes=f'conversationSid == "{conversation_sid}"'
    )
    assert len(tasks) == 1
    return tasks[0]


async def test_plugin_open_chat_reserves_the_sending_agent_at_once(sim: Simulator, client: Client) -> None:
    result = await plugin_send(client, to=JANE, from_=SMS_SENDER, body="Hello from Flex",
                               open_chat=True, route_to_me=False, worker_sid=CAROL.sid)
    tasks = await client.taskrouter.v1.workspaces(seed.WORKSPACE_SID).tasks.list_async(
        evaluate_task_attributes=f'conversationSid == "{result.conversation_sid}"'
    )
    assert [t.assignment_status for t in tasks] == ["reserved"]
    assert json.loads(tasks[0].attributes)["direction"] == "outbound"
    assert await _reservation_worker(client, tasks[0].sid) == CAROL.sid


async def test_plugin_wait_me_routes_the_reply_to_the_sending_agent(sim: Simulator, client: Client) -> None:
    result = await plugin_send(client, to=JANE, from_=SMS_SENDER, body="Call me back?",
                               open_chat=False, route_to_me=True, worker_sid=CAROL.sid)
    task = await _task_after_reply(sim, client, result.conversation_sid)
    attributes = json.loads(task.attributes)
    assert attributes["KnownAgentRoutingFlag"] == "true"
    assert attributes["KnownAgentWorkerSid"] == CAROL.sid
    assert task.assignment_status == "reserved"
    assert await _reservation_worker(client, task.sid) == CAROL.sid


async def test_plugin_wait_any_routes_the_reply_to_the_queue(sim: Simulator, client: Client) -> None:
    result = await plugin_send(client, to=JANE, from_=SMS_SENDER, body="Any questions?",
                               open_chat=False, route_to_me=False, worker_sid=CAROL.sid)
    task = await _task_after_reply(sim, client, result.conversation_sid)
    assert json.loads(task.attributes).get("KnownAgentRoutingFlag") != "true"
    assert task.assignment_status == "reserved"
    # Everyone is equally idle in the seeded world, so the queue's next worker is the first available one.
    assert await _reservation_worker(client, task.sid) == ALICE.sid


async def test_plugin_refuses_a_second_send_while_a_task_is_live(sim: Simulator, client: Client) -> None:
    first = await plugin_send(client, to=JANE, from_=SMS_SENDER, body="One", open_chat=True, route_to_me=False)
    second = await plugin_send(client, to=JANE, from_=SMS_SENDER, body="Two", open_chat=True, route_to_me=False)
    assert second.conversation_sid == first.conversation_sid
    assert second.refused is not None and "outbound" in second.refused
    # The plugin's own bug: only the first `_XX` is decoded, so the worker lookup misses and the name is None.
    assert second.refused.endswith("with None")
