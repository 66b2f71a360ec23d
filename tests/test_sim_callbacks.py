"""The simulator pushes TaskRouter events to the workspace's EventCallbackUrl as Twilio does (issue 16): form
posts signed with X-Twilio-Signature (checked here with twilio's own RequestValidator), each with its event Sid,
filtered by EventsFilter; its knobs drop, duplicate, reorder and delay deliveries."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from sim import seed
from sim.server import Simulator

WS = seed.WORKSPACE_SID


class Receiver:
    """A loopback HTTP server standing in for the relay: what it received, and whether each was signed right."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        self.valid: list[bool] = []
        self.signatures: list[str] = []
        self.url = ""
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        params = dict((await request.post()).items())
        validator = RequestValidator(seed.DEMO_AUTH_TOKEN)
        self.signatures.append(request.headers.get("X-Twilio-Signature", ""))
        self.valid.append(validator.validate(self.url, params, self.signatures[-1]))
        self.received.append(params)  # type: ignore[arg-type]
        self.arrived.set()
        return web.Response(status=200)

    async def until(self, count: int) -> list[dict[str, str]]:
        for _ in range(500):
            if len(self.received) >= count:
                return self.received
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(self.received)} callbacks, not {count}: {self.types()}")

    def types(self) -> list[str]:
        return [p["EventType"] for p in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiving = Receiver()
    app = web.Application()
    app.router.add_post("/events", receiving.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiving.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/events"  # type: ignore[union-attr]
    yield receiving
    await runner.cleanup()


async def new_task(client: Client) -> Any:
    return await client.taskrouter.v1.workspaces(WS).tasks.create_async(
        attributes='{"conversationSid": "CH' + "1" * 32 + '"}', workflow_sid=seed.WORKFLOW_SID)


async def test_task_events_reach_the_callback_url_signed_as_twilio_signs(
        sim: Simulator, client: Client, receiver: Receiver) -> None:
    workspace = await client.taskrouter.v1.workspaces(WS).update_async(event_callback_url=receiver.url)
    assert workspace.event_callback_url == receiver.url
    task = await new_task(client)
    received = await receiver.until(1)
    assert received[0]["EventType"] == "task.created" and received[0]["TaskSid"] == task.sid
    assert received[0]["Sid"].startswith("EV") and received[0]["AccountSid"] == seed.ACCOUNT_SID
    assert all(receiver.valid)  # twilio's RequestValidator accepts every signature


async def test_events_filter_and_a_forged_signature(sim: Simulator, client: Client, receiver: Receiver) -> None:
    await client.taskrouter.v1.workspaces(WS).update_async(event_callback_url=receiver.url,
                                                           events_filter="reservation.created")
    await new_task(client)  # created, then offered to a worker
    received = await receiver.until(1)
    await asyncio.sleep(0.1)
    assert {p["EventType"] for p in received} == {"reservation.created"}
    assert received[0]["WorkerSid"].startswith("WK") and received[0]["ReservationSid"].startswith("WR")
    forged = dict(received[0], TaskAttributes='{"conversationSid": "CHforged"}')
    validator = RequestValidator(seed.DEMO_AUTH_TOKEN)
    assert validator.validate(receiver.url, received[0], receiver.signatures[0])
    assert not validator.validate(receiver.url, forged, receiver.signatures[0])  # the same signature, a changed body
    assert not RequestValidator("another-token").validate(receiver.url, received[0], receiver.signatures[0])


async def test_the_knobs_drop_duplicate_reorder_and_delay_deliveries(
        sim: Simulator, client: Client, receiver: Receiver) -> None:
    await client.taskrouter.v1.workspaces(WS).update_async(event_callback_url=receiver.url,
                                                           events_filter="task.created")
    token = base64.b64encode(f"{seed.ACCOUNT_SID}:{seed.DEMO_AUTH_TOKEN}".encode()).decode()
    async with aiohttp.ClientSession(sim.base_url, headers={"Authorization": f"Basic {token}"}) as admin:
        async with admin.post("/_sim/callbacks", json={"drop": -1}) as answer:
            assert answer.status == 400
        made = []
        for knob in ("drop", "duplicate", "reorder", None):
            if knob:
                async with admin.post("/_sim/callbacks", json={knob: 1}) as answer:
                    assert answer.status == 200
            made.append((await new_task(client)).sid)
        first, second, third, fourth = made  # dropped; twice; held until the fourth has gone; the fourth
        await receiver.until(4)
        await asyncio.sleep(0.1)
        sent = [p["TaskSid"] for p in sim.world.callbacks.delivered]  # in the order the simulator sent them
        assert sent == [second, second, fourth, third]
        assert sorted(p["TaskSid"] for p in receiver.received) == sorted(sent)  # and all arrived, signed
        assert all(receiver.valid)
        twice = [p["Sid"] for p in receiver.received if p["TaskSid"] == second]
        assert len(twice) == 2 and twice[0] == twice[1]  # a duplicate is the same event
        async with admin.post("/_sim/callbacks", json={"delay": 0.2}) as answer:
            assert answer.status == 200
        before = len(receiver.received)
        await new_task(client)
        await asyncio.sleep(0.1)
        assert len(receiver.received) == before  # not yet
        await receiver.until(before + 1)


async def test_conversations_post_event_webhooks_are_sent_for_the_filters_signed(
        sim: Simulator, client: Client, receiver: Receiver) -> None:
    configuration = await client.conversations.v1.configuration.webhooks().update_async(
        post_webhook_url=receiver.url, filters=["onMessageAdded", "onDeliveryUpdated", "onConversationStateUpdated"],
        method="POST")
    assert configuration.post_webhook_url == receiver.url
    conversation = await client.conversations.v1.conversations.create_async()
    await conversation.participants.create_async(messaging_binding_address="+14155550100",
                                                 messaging_binding_proxy_address=seed.SMS_SENDERS[0])
    message = await conversation.messages.create_async(body="Hello Jane", author="alice")
    sim.world.clock.advance(5)  # delivery: sent, delivered, read
    await conversation.update_async(state="closed")
    received = await receiver.until(5)
    added = next(p for p in received if p["EventType"] == "onMessageAdded")
    assert (added["MessageSid"], added["Body"], added["ConversationSid"]) == (message.sid, "Hello Jane",
                                                                              conversation.sid)
    assert [p["Status"] for p in received if p["EventType"] == "onDeliveryUpdated"][:2] == ["sent", "delivered"]
    closed = [p for p in received if p["EventType"] == "onConversationStateUpdated"]
    assert (closed[-1]["StateFrom"], closed[-1]["StateTo"]) == ("active", "closed")
    assert "onParticipantAdded" not in receiver.types()  # not in the filters
    assert all(receiver.valid)
