"""The simulator's TaskRouter: workspace resources, the task and reservation state machines, and routing.

All through the real twilio SDK over HTTP; every exchange is also checked against Twilio's OpenAPI
spec by the `sim` fixture. Time moves only when a test advances the manual clock.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, Awaitable
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from sim import seed
from sim.server import Simulator

WS = seed.WORKSPACE_SID
ALICE, BOB, CAROL, DAVE = seed.WORKERS
OFFLINE, AVAILABLE, UNAVAILABLE, BREAK = seed.ACTIVITIES
TASKROUTER = f"https://taskrouter.twilio.com/v1/Workspaces/{WS}"
KNOWN = "KnownAgentRoutingFlag"
KNOWN_SID = "KnownAgentWorkerSid"


def workspace(client: Client) -> Any:
    return client.taskrouter.v1.workspaces(WS)


async def new_task(client: Client, attributes: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    kwargs.setdefault("workflow_sid", seed.WORKFLOW_SID)
    kwargs.setdefault("task_channel", "chat")
    return await workspace(client).tasks.create_async(attributes=json.dumps(attributes or {}), **kwargs)


async def reservations(client: Client, task_sid: str, status: str | None = None) -> list[Any]:
    kwargs = {"reservation_status": status} if status else {}
    return await workspace(client).tasks(task_sid).reservations.list_async(**kwargs)


async def pending_reservation(client: Client, task_sid: str) -> Any:
    pending = await reservations(client, task_sid, "pending")
    assert len(pending) == 1, pending
    return pending[0]


async def set_activity(client: Client, worker: seed.Worker, activity: seed.Activity) -> Any:
    return await workspace(client).workers(worker.sid).update_async(activity_sid=activity.sid)


async def status_of(client: Client, task_sid: str) -> str:
    return (await workspace(client).tasks(task_sid).fetch_async()).assignment_status


async def rest_error(call: Awaitable[Any]) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as raised:
        await call
    return raised.value


async def list_error(call: Awaitable[Any]) -> tuple[int, dict[str, Any]]:
    """The SDK turns a failed list into a bare TwilioException carrying the response (contract §7.4)."""
    with pytest.raises(TwilioException) as raised:
        await call
    response = raised.value.args[1]
    return response.status_code, json.loads(response.text)


async def raw_delete(sim: Simulator, path: str, headers: dict[str, str]) -> int:
    token = base64.b64encode(f"{seed.ACCOUNT_SID}:{seed.DEMO_AUTH_TOKEN}".encode()).decode()
    async with aiohttp.ClientSession() as session:
        async with session.delete(sim.base_url + path, headers={"Authorization": f"Basic {token}", **headers}) as reply:
            return reply.status


# ---------------------------------------------------------------------- workspace resources


async def test_workspace_fetch_and_unknown_workspace(sim: Simulator, client: Client) -> None:
    found = await workspace(client).fetch_async()
    assert found.sid == WS
    assert found.url == f"https://taskrouter.twilio.com/v1/Workspaces/{WS}"
    assert found.links["tasks"] == f"https://taskrouter.twilio.com/v1/Workspaces/{WS}/Tasks"
    assert (found.default_activity_sid, found.timeout_activity_name) == (OFFLINE.sid, "Offline")
    other = client.taskrouter.v1.workspaces(seed.fixed_sid("WS", 2))
    assert (await rest_error(other.fetch_async())).code == 20404
    status, body = await list_error(other.tasks.list_async())
    assert (status, body["code"]) == (404, 20404)
    assert (await rest_error(other.workers(ALICE.sid).fetch_async())).status == 404


async def test_activities_list_and_filters(sim: Simulator, client: Client) -> None:
    activities = await workspace(client).activities.list_async()
    assert [(a.sid, a.friendly_name, a.available) for a in activities] == [
        (a.sid, a.name, a.available) for a in seed.ACTIVITIES
    ]
    assert [a.friendly_name for a in await workspace(client).activities.list_async(available="true")] == ["Available"]
    assert [a.sid for a in await workspace(client).activities.list_async(friendly_name="Break")] == [BREAK.sid]
    assert (await workspace(client).activities(UNAVAILABLE.sid).fetch_async()).available is False


async def test_workers_list_with_each_filter(sim: Simulator, client: Client) -> None:
    workers = workspace(client).workers
    everyone = await workers.list_async()
    assert [w.sid for w in everyone] == [w.sid for w in seed.WORKERS]
    assert json.loads(everyone[0].attributes)["full_name"] == "Alice Johnson"
    assert json.loads(everyone[0].attributes)["contact_uri"] == "client:alice_40example_2Ecom"
    assert [w.sid for w in await workers.list_async(friendly_name="ALICE@Example.com")] == [ALICE.sid]
    assert [w.sid for w in await workers.list_async(activity_name="Offline")] == [DAVE.sid]
    assert [w.sid for w in await workers.list_async(activity_sid=OFFLINE.sid)] == [DAVE.sid]
    assert [w.sid for w in await workers.list_async(available="true")] == [ALICE.sid, BOB.sid, CAROL.sid]
    assert [w.sid for w in await workers.list_async(available="false")] == [DAVE.sid]
    expression = 'email CONTAINS "bob" OR full_name == "Dave O\'Brien"'
    matching = await workers.list_async(target_workers_expression=expression)
    assert [w.sid for w in matching] == [BOB.sid, DAVE.sid]
    assert [w.sid for w in await workers.list_async(task_queue_sid=seed.QUEUE_SID)] == [w.sid for w in seed.WORKERS]
    status, body = await list_error(workers.list_async(target_workers_expression="email ==="))
    assert (status, body["code"]) == (400, 20001)


async def test_worker_fetch_and_update(sim: Simulator, client: Client) -> None:
    sim.world.clock.advance(30)
    worker = await set_activity(client, BOB, BREAK)
    assert (worker.activity_sid, worker.activity_name, worker.available) == (BREAK.sid, "Break", False)
    assert worker.date_status_changed > worker.date_created
    attributes = json.dumps({"full_name": "Robert Martinez", "email": BOB.friendly_name})
    await workspace(client).workers(BOB.sid).update_async(attributes=attributes, friendly_name="robert@example.com")
    fetched = await workspace(client).workers(BOB.sid).fetch_async()
    assert (fetched.attributes, fetched.friendly_name) == (attributes, "robert@example.com")
    assert fetched.url == f"https://taskrouter.twilio.com/v1/Workspaces/{WS}/Workers/{BOB.sid}"
    bad = await rest_error(workspace(client).workers(BOB.sid).update_async(activity_sid=seed.fixed_sid("WA", 9)))
    assert (bad.status, bad.code) == (400, 20001)
    bad = await rest_error(workspace(client).workers(BOB.sid).update_async(attributes="[1, 2]"))
    assert bad.status == 400
    taken = await rest_error(workspace(client).workers(BOB.sid).update_async(friendly_name="Alice@example.com"))
    assert taken.status == 409
    assert (await rest_error(workspace(client).workers(seed.fixed_sid("WK", 9)).fetch_async())).code == 20404


async def test_queues_workflows_and_task_channels(sim: Simulator, client: Client) -> None:
    queues = await workspace(client).task_queues.list_async()
    assert [(q.sid, q.target_workers) for q in queues] == [(seed.QUEUE_SID, "1==1")]
    assert (await workspace(client).task_queues(seed.QUEUE_SID).fetch_async()).friendly_name == queues[0].friendly_name
    workflows = await workspace(client).workflows.list_async()
    assert [w.sid for w in workflows] == [seed.WORKFLOW_SID]
    workflow = await workspace(client).workflows(seed.WORKFLOW_SID).fetch_async()
    assert json.loads(workflow.configuration) == seed.WORKFLOW_CONFIGURATION
    assert workflow.task_reservation_timeout == int(sim.world.config.reservation_timeout)
    channels = await workspace(client).task_channels.list_async()
    assert sorted(c.unique_name for c in channels) == ["chat", "default", "sms", "voice"]
    chat = await workspace(client).task_channels("chat").fetch_async()
    assert chat.sid == next(c.sid for c in channels if c.unique_name == "chat")
    assert (await rest_error(workspace(client).task_queues(seed.fixed_sid("WQ", 9)).fetch_async())).code == 20404


# ---------------------------------------------------------------------- tasks: create, fetch, update, delete


async def test_task_create_and_fetch_carry_twilio_fields(sim: Simulator, client: Client) -> None:
    attributes = '{"conversationSid": "CH1", "direction": "inbound"}'
    created = await workspace(client).tasks.create_with_http_info_async(
        attributes=attributes, workflow_sid=seed.WORKFLOW_SID, task_channel="chat", priority=5, timeout=3600
    )
    assert created.status_code == 201
    task = created.data
    assert task.sid.startswith("WT") and len(task.sid) == 34
    assert task.attributes == attributes  # stored and returned as given
    assert (task.priority, task.timeout, task.task_channel_unique_name) == (5, 3600, "chat")
    assert (task.workflow_sid, task.task_queue_sid) == (seed.WORKFLOW_SID, seed.QUEUE_SID)
    assert task.assignment_status == "reserved"  # routed at once: Alice is available
    assert task.routing_target is None
    assert task.url == f"https://taskrouter.twilio.com/v1/Workspaces/{WS}/Tasks/{task.sid}"
    assert task.links["reservations"] == f"{task.url}/Reservations"
    sim.world.clock.advance(42)
    fetched = await workspace(client).tasks(task.sid).fetch_with_http_info_async()
    assert fetched.data.age == 42
    assert {k.lower(): v for k, v in fetched.headers.items()}["etag"]


async def test_task_create_rejects_bad_input(sim: Simulator, client: Client) -> None:
    tasks = workspace(client).tasks
    for kwargs in (
        {"attributes": "not json"},
        {"attributes": "[1]"},
        {"attributes": "{}", "workflow_sid": seed.fixed_sid("WW", 9)},
        {"attributes": "{}", "task_channel": "fax"},
    ):
        kwargs.setdefault("workflow_sid", seed.WORKFLOW_SID)
        error = await rest_error(tasks.create_async(**kwargs))
        assert (error.status, error.code) == (400, 20001), kwargs
    assert sim.world.taskrouter.tasks == {}


async def test_task_update_transitions_and_reasons(sim: Simulator, client: Client) -> None:
    task = await new_task(client)
    context = workspace(client).tasks(task.sid)
    for status in ("pending", "assigned", "wrapping", "completed"):  # none of these from reserved by hand
        error = await rest_error(context.update_async(assignment_status=status, reason="x"))
        assert (error.status, error.code) == (400, 20001), status
    error = await rest_error(context.update_async(assignment_status="canceled"))
    assert error.status == 400 and "Reason" in error.msg
    canceled = await context.update_async(assignment_status="canceled", reason="customer hung up")
    assert (canceled.assignment_status, canceled.reason) == ("canceled", "customer hung up")
    assert [r.reservation_status for r in await reservations(client, task.sid)] == ["canceled"]
    error = await rest_error(context.update_async(assignment_status="completed", reason="x"))
    assert error.status == 400


async def test_task_attributes_are_replaced_and_priority_changes(sim: Simulator, client: Client) -> None:
    task = await new_task(client, {"a": 1, "b": 2})
    updated = await workspace(client).tasks(task.sid).update_async(attributes='{"c": 3}', priority=9)
    assert (json.loads(updated.attributes), updated.priority) == ({"c": 3}, 9)
    error = await rest_error(workspace(client).tasks(task.sid).update_async(attributes="{oops"))
    assert error.status == 400


async def test_if_match_guards_task_updates(sim: Simulator, client: Client) -> None:
    task = await new_task(client)
    context = workspace(client).tasks(task.sid)
    etag = {k.lower(): v for k, v in (await context.fetch_with_http_info_async()).headers.items()}["etag"]
    updated = await context.update_with_http_info_async(attributes='{"step": 1}', if_match=etag)
    new_etag = {k.lower(): v for k, v in updated.headers.items()}["etag"]
    assert new_etag != etag
    stale = await rest_error(context.update_async(attributes='{"step": 2}', if_match=etag))
    assert (stale.status, stale.code) == (412, 20412)
    assert json.loads((await context.fetch_async()).attributes) == {"step": 1}
    # twilio 9.13's delete_async drops its if_match argument (it never sends the header), so go raw.
    path = f"/v1/Workspaces/{WS}/Tasks/{task.sid}"
    assert await raw_delete(sim, path, {"If-Match": etag}) == 412
    assert await raw_delete(sim, path, {"If-Match": new_etag}) == 204
    assert task.sid not in sim.world.taskrouter.tasks


async def test_task_delete_frees_the_worker(sim: Simulator, client: Client) -> None:
    task = await new_task(client, task_channel="sms")  # sms capacity 1: Alice is full after this
    assert (await pending_reservation(client, task.sid)).worker_sid == ALICE.sid
    assert await workspace(client).tasks(task.sid).delete_async() is True
    assert (await rest_error(workspace(client).tasks(task.sid).fetch_async())).code == 20404
    assert await workspace(client).workers(ALICE.sid).reservations.list_async() == []
    second = await new_task(client, task_channel="sms")
    assert (await pending_reservation(client, second.sid)).worker_sid == BOB.sid  # Bob has idled longer now


async def test_task_ttl_cancels_an_unrouted_task(sim: Simulator, client: Client) -> None:
    task = await new_task(client, {KNOWN: "true", KNOWN_SID: DAVE.sid}, timeout=60)
    sim.world.clock.advance(59)
    assert await status_of(client, task.sid) == "pending"
    sim.world.clock.advance(1)
    fetched = await workspace(client).tasks(task.sid).fetch_async()
    assert (fetched.assignment_status, fetched.reason) == ("canceled", "Task TTL Exceeded")


# ---------------------------------------------------------------------- routing


async def test_default_queue_reserves_the_longest_idle_available_worker(sim: Simulator, client: Client) -> None:
    first = await new_task(client)
    sim.world.clock.advance(10)
    second = await new_task(client)
    sim.world.clock.advance(10)
    third = await new_task(client)
    workers = [(await pending_reservation(client, t.sid)).worker_sid for t in (first, second, third)]
    assert workers == [ALICE.sid, BOB.sid, CAROL.sid]
    sim.world.clock.advance(10)
    alice_reservation = await pending_reservation(client, first.sid)
    await workspace(client).tasks(first.sid).reservations(alice_reservation.sid).update_async(
        reservation_status="accepted"
    )
    # Alice just took a task, Bob's last one is older than Carol's, Dave is offline.
    fourth = await new_task(client)
    assert (await pending_reservation(client, fourth.sid)).worker_sid == BOB.sid


async def test_known_agent_filter_reserves_only_the_named_worker(sim: Simulator, client: Client) -> None:
    task = await new_task(client, {KNOWN: "true", KNOWN_SID: CAROL.sid})
    assert (await pending_reservation(client, task.sid)).worker_sid == CAROL.sid
    not_flagged = await new_task(client, {KNOWN: "false", KNOWN_SID: CAROL.sid})
    assert (await pending_reservation(client, not_flagged.sid)).worker_sid == ALICE.sid
    unknown_worker = await new_task(client, {KNOWN: "true", KNOWN_SID: ""})
    assert (await pending_reservation(client, unknown_worker.sid)).worker_sid == BOB.sid  # falls to the default queue


async def test_known_agent_task_waits_while_the_worker_is_offline(sim: Simulator, client: Client) -> None:
    task = await new_task(client, {KNOWN: "true", KNOWN_SID: DAVE.sid})
    assert task.assignment_status == "pending"
    assert task.task_queue_sid == seed.QUEUE_SID
    assert await reservations(client, task.sid) == []
    await set_activity(client, DAVE, BREAK)  # still not available
    assert await status_of(client, task.sid) == "pending"
    await set_activity(client, DAVE, AVAILABLE)
    assert await status_of(client, task.sid) == "reserved"
    assert (await pending_reservation(client, task.sid)).worker_sid == DAVE.sid


async def test_explicit_worker_target_reserves_that_worker(sim: Simulator, client: Client) -> None:
    task = await new_task(client, routing_target=BOB.sid)
    assert task.routing_target == BOB.sid
    assert (await pending_reservation(client, task.sid)).worker_sid == BOB.sid
    domain_task = sim.world.taskrouter.create_task({"x": 1}, workflow_sid=seed.WORKFLOW_SID, worker_sid=DAVE.sid)
    assert (domain_task.assignment_status, domain_task.routing_target) == ("pending", DAVE.sid)  # Dave is offline


async def test_a_worker_holds_up_to_three_chats_and_one_sms(sim: Simulator, client: Client) -> None:
    for worker in (BOB, CAROL):
        await set_activity(client, worker, OFFLINE)
    chats = [await new_task(client) for _ in range(4)]
    assert [await status_of(client, t.sid) for t in chats] == ["reserved"] * 3 + ["pending"]
    sms = await new_task(client, task_channel="sms")
    assert (await pending_reservation(client, sms.sid)).worker_sid == ALICE.sid  # another channel, own capacity
    second_sms = await new_task(client, task_channel="sms")
    assert await status_of(client, second_sms.sid) == "pending"
    first = await pending_reservation(client, chats[0].sid)
    context = workspace(client).tasks(chats[0].sid).reservations(first.sid)
    await context.update_async(reservation_status="accepted")
    assert await status_of(client, chats[3].sid) == "pending"  # an assigned chat still holds capacity
    await context.update_async(reservation_status="completed")
    assert await status_of(client, chats[3].sid) == "reserved"


# ---------------------------------------------------------------------- reservations


async def test_accept_assigns_the_task(sim: Simulator, client: Client) -> None:
    task = await new_task(client)
    reservation = await pending_reservation(client, task.sid)
    assert reservation.url == f"{TASKROUTER}/Tasks/{task.sid}/Reservations/{reservation.sid}"
    assert (reservation.worker_name, reservation.task_sid) == (ALICE.friendly_name, task.sid)
    accepted = await workspace(client).tasks(task.sid).reservations(reservation.sid).update_async(
        reservation_status="accepted"
    )
    assert accepted.reservation_status == "accepted"
    assert await status_of(client, task.sid) == "assigned"
    mine = await workspace(client).workers(ALICE.sid).reservations.list_async(reservation_status="accepted")
    assert [r.sid for r in mine] == [reservation.sid]
    assert mine[0].url == f"{TASKROUTER}/Workers/{ALICE.sid}/Reservations/{reservation.sid}"
    again = await rest_error(workspace(client).tasks(task.sid).reservations(reservation.sid).update_async(
        reservation_status="accepted"))
    assert again.status == 400
    fetched = await workspace(client).workers(ALICE.sid).reservations(reservation.sid).fetch_async()
    assert fetched.reservation_status == "accepted"


async def test_reject_reroutes_to_another_worker(sim: Simulator, client: Client) -> None:
    task = await new_task(client)
    alice = await pending_reservation(client, task.sid)
    await workspace(client).workers(ALICE.sid).reservations(alice.sid).update_async(reservation_status="rejected")
    assert await status_of(client, task.sid) == "reserved"
    bob = await pending_reservation(client, task.sid)
    assert bob.worker_sid == BOB.sid
    await workspace(client).tasks(task.sid).reservations(bob.sid).update_async(reservation_status="rejected")
    assert (await pending_reservation(client, task.sid)).worker_sid == CAROL.sid
    history = await reservations(client, task.sid)
    assert [(r.worker_sid, r.reservation_status) for r in history] == [
        (ALICE.sid, "rejected"), (BOB.sid, "rejected"), (CAROL.sid, "pending")
    ]
    bobs = await workspace(client).tasks(task.sid).reservations.list_async(worker_sid=BOB.sid)
    assert [r.sid for r in bobs] == [bob.sid]


async def test_known_agent_task_rejected_by_its_agent_waits(sim: Simulator, client: Client) -> None:
    task = await new_task(client, {KNOWN: "true", KNOWN_SID: CAROL.sid})
    carol = await pending_reservation(client, task.sid)
    await workspace(client).tasks(task.sid).reservations(carol.sid).update_async(reservation_status="rejected")
    assert await status_of(client, task.sid) == "pending"  # nobody else may take it


async def test_reservation_timeout_sends_the_task_to_someone_else(sim: Simulator, client: Client) -> None:
    timeout = sim.world.config.reservation_timeout
    task = await new_task(client)
    alice = await pending_reservation(client, task.sid)
    sim.world.clock.advance(timeout - 1)
    alices = workspace(client).tasks(task.sid).reservations(alice.sid)
    assert (await alices.fetch_async()).reservation_status == "pending"
    sim.world.clock.advance(1)
    timed_out = await workspace(client).tasks(task.sid).reservations(alice.sid).fetch_async()
    assert timed_out.reservation_status == "timeout"
    # TaskRouter moves a worker who missed a reservation to the workspace's timeout activity.
    assert (await workspace(client).workers(ALICE.sid).fetch_async()).activity_name == "Offline"
    assert (await pending_reservation(client, task.sid)).worker_sid == BOB.sid
    late = await rest_error(workspace(client).tasks(task.sid).reservations(alice.sid).update_async(
        reservation_status="accepted"))
    assert late.status == 400


async def test_wrapping_then_completed(sim: Simulator, client: Client) -> None:
    task = await new_task(client)
    reservation = await pending_reservation(client, task.sid)
    by_worker = workspace(client).workers(ALICE.sid).reservations(reservation.sid)
    await by_worker.update_async(reservation_status="accepted")
    wrapping = await workspace(client).tasks(task.sid).update_async(assignment_status="wrapping")
    assert wrapping.assignment_status == "wrapping"
    assert (await by_worker.fetch_async()).reservation_status == "wrapping"
    await by_worker.update_async(reservation_status="completed")
    done = await workspace(client).tasks(task.sid).fetch_async()
    assert (done.assignment_status, done.reason) == ("completed", "Reservation completed")
    assert (await by_worker.fetch_async()).reservation_status == "completed"


async def test_task_completion_completes_its_reservation(sim: Simulator, client: Client) -> None:
    task = await new_task(client)
    reservation = await pending_reservation(client, task.sid)
    await workspace(client).tasks(task.sid).reservations(reservation.sid).update_async(
        reservation_status="accepted", worker_activity_sid=BREAK.sid
    )
    assert (await workspace(client).workers(ALICE.sid).fetch_async()).activity_name == "Break"
    error = await rest_error(workspace(client).tasks(task.sid).update_async(assignment_status="completed"))
    assert error.status == 400
    await workspace(client).tasks(task.sid).update_async(assignment_status="completed", reason="resolved")
    assert [r.reservation_status for r in await reservations(client, task.sid)] == ["completed"]


async def test_reject_pending_reservations_when_going_offline(sim: Simulator, client: Client) -> None:
    task = await new_task(client)
    await workspace(client).workers(ALICE.sid).update_async(activity_sid=OFFLINE.sid, reject_pending_reservations=True)
    history = await reservations(client, task.sid)
    assert [(r.worker_sid, r.reservation_status) for r in history] == [(ALICE.sid, "rejected"), (BOB.sid, "pending")]


async def test_reservation_status_values_a_client_may_not_set(sim: Simulator, client: Client) -> None:
    task = await new_task(client)
    reservation = await pending_reservation(client, task.sid)
    for status in ("timeout", "canceled", "rescinded", "wrapping", "completed"):
        error = await rest_error(workspace(client).tasks(task.sid).reservations(reservation.sid).update_async(
            reservation_status=status))
        assert error.status == 400, status
    missing = await rest_error(workspace(client).tasks(task.sid).reservations(seed.fixed_sid("WR", 9)).fetch_async())
    assert missing.code == 20404


# ---------------------------------------------------------------------- task lists


async def test_evaluate_task_attributes_with_equals_and_in(sim: Simulator, client: Client) -> None:
    one = await new_task(client, {"conversationSid": "CH" + "1" * 32, "direction": "outbound"})
    two = await new_task(client, {"conversationSid": "CH" + "2" * 32})
    await new_task(client, {"conversationSid": "CH" + "3" * 32})
    await new_task(client, {"other": True})
    tasks = workspace(client).tasks
    found = await tasks.list_async(evaluate_task_attributes=f'conversationSid == "CH{"1" * 32}"')
    assert [t.sid for t in found] == [one.sid]
    assert json.loads(found[0].attributes)["direction"] == "outbound"  # lists carry attributes (the plugin reads them)
    both = await tasks.list_async(evaluate_task_attributes=f'conversationSid IN ["CH{"1" * 32}", "CH{"2" * 32}"]')
    assert [t.sid for t in both] == [one.sid, two.sid]
    status, body = await list_error(tasks.list_async(evaluate_task_attributes='conversationSid == "CH1'))
    assert (status, body["code"], body["status"]) == (400, 20001, 400)


async def test_assignment_status_multi_filter_and_other_filters(sim: Simulator, client: Client) -> None:
    for worker in (BOB, CAROL):
        await set_activity(client, worker, OFFLINE)
    chats = [await new_task(client, {"n": n}) for n in range(4)]  # Alice takes three, the fourth waits
    first = await pending_reservation(client, chats[0].sid)
    await workspace(client).tasks(chats[0].sid).reservations(first.sid).update_async(reservation_status="accepted")
    tasks = workspace(client).tasks
    assert [t.sid for t in await tasks.list_async(assignment_status=["pending"])] == [chats[3].sid]
    reserved_or_assigned = await tasks.list_async(assignment_status=["reserved", "assigned"])
    assert [t.sid for t in reserved_or_assigned] == [t.sid for t in chats[:3]]
    assert await tasks.list_async(assignment_status=["completed", "canceled"]) == []
    assert len(await tasks.list_async(workflow_sid=seed.WORKFLOW_SID)) == 4
    assert len(await tasks.list_async(task_queue_sid=seed.QUEUE_SID)) == 4
    assert await tasks.list_async(task_queue_sid=seed.fixed_sid("WQ", 9)) == []
    newest_first = await tasks.list_async(ordering="DateCreated:desc")
    assert [t.sid for t in newest_first] == [t.sid for t in reversed(chats)]
    status, _ = await list_error(tasks.list_async(ordering="Color:asc"))
    assert status == 400


async def test_task_list_pages_carry_the_filters(sim: Simulator, client: Client) -> None:
    sim.world.config.task_list_per_second = None  # four pages at once: about paging, not TaskRouter's rate limit
    created = [await new_task(client, {"batch": "b1", "n": n}, task_channel="default") for n in range(12)]
    await new_task(client, {"batch": "b2"})
    tasks = workspace(client).tasks
    expression = 'batch == "b1"'
    statuses = ["pending", "reserved"]
    page = await tasks.page_async(evaluate_task_attributes=expression, assignment_status=statuses, page_size=5)
    meta = page._payload["meta"]
    assert (meta["key"], meta["page_size"], meta["previous_page_url"]) == ("tasks", 5, None)
    next_url = meta["next_page_url"]
    assert next_url.startswith(f"https://taskrouter.twilio.com/v1/Workspaces/{WS}/Tasks?")
    query = parse_qs(urlsplit(next_url).query)
    assert query["EvaluateTaskAttributes"] == [expression]
    assert query["AssignmentStatus"] == statuses
    assert query["PageSize"] == ["5"] and "PageToken" in query
    every = await tasks.list_async(evaluate_task_attributes=expression, assignment_status=statuses, page_size=5)
    assert [t.sid for t in every] == [t.sid for t in created]
    assert len(sim.world.log.matching("GET", f"/v1/Workspaces/{WS}/Tasks")) == 1 + 3


# ---------------------------------------------------------------------- the domain API other modules use


async def test_tasks_for_conversation(sim: Simulator, client: Client) -> None:
    conversation = "CH" + "a" * 32
    await new_task(client, {"conversationSid": conversation})
    await new_task(client, {"conversationSid": "CH" + "b" * 32})
    made = sim.world.taskrouter.create_task({"conversationSid": conversation}, workflow_sid=seed.WORKFLOW_SID)
    found = sim.world.taskrouter.tasks_for_conversation(conversation)
    assert len(found) == 2 and found[1] is made
    assert made.channel.unique_name == "chat" and made.assignment_status == "reserved"


async def test_accepting_notifies_listeners(sim: Simulator, client: Client) -> None:
    heard: list[tuple[str, str]] = []
    sim.world.taskrouter.reservation_accepted.append(lambda r: heard.append((r.task.sid, r.worker.sid)))
    task = await new_task(client)
    reservation = await pending_reservation(client, task.sid)
    assert heard == []
    await workspace(client).tasks(task.sid).reservations(reservation.sid).update_async(reservation_status="accepted")
    assert heard == [(task.sid, ALICE.sid)]


async def test_the_task_list_with_attributes_is_limited_to_3_a_second_per_account(
        sim: Simulator, client: Client) -> None:
    tasks = client.taskrouter.v1.workspaces(seed.WORKSPACE_SID).tasks
    for _ in range(3):
        await tasks.list_async(evaluate_task_attributes=f'conversationSid == "CH{"1" * 32}"')
    status, body = await list_error(tasks.list_async(evaluate_task_attributes=f'conversationSid == "CH{"1" * 32}"'))
    assert (status, body["code"]) == (429, 20429)
    assert sim.world.log[-1].response_headers["Retry-After"] == "1"
    await tasks.list_async()  # without attributes: not that limit
    await asyncio.sleep(1.0)  # a second later (virtual time): allowed again
    assert await tasks.list_async(evaluate_task_attributes=f'conversationSid == "CH{"1" * 32}"') == []
