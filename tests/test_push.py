"""Terminals that read their status from the relay (issue 16, part 2): a local contact center of the simulator (its
signed webhooks and event callbacks), a real nats-server with per-agent users (random loopback port), the relay,
and agents' sessions. Each agent reads only their own events; push replaces the polling (no task list, no
reservation reads); a silent relay or a NATS gone falls back to polling and comes back, nothing lost and nothing
shown twice; a consumer lost is made again from the last event seen; a webhook Twilio never sends is caught by the
watcher's safety read; and no secret is ever logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest
from aiohttp import web
from pydantic import SecretStr

from core.events import CustomerReplied, MessageStatusChanged, StatusEvent, TaskStatusChanged
from core.relay import STREAM, Relay, agent_subject, inbox_prefix, server_users
from core.push import Push
from core.session import Session, open_session
from core.watcher import StatusWatcher
from sim import seed
from sim.server import Simulator
from sim.world import SimConfig
from tests.nats_fixtures import free_port, start_nats, until
from tests.outbound_fixtures import settings_for
from tui import relay as relay_command
from tui.cli import _parser

pytestmark = pytest.mark.real_time  # a real NATS server, and heartbeats in real time
BEAT = 0.2  # seconds between heartbeats (relay and consumer): silence for 3 of them falls back to polling
ALICE, BOB = seed.WORKERS[0].friendly_name, seed.WORKERS[1].friendly_name
USERS = {ALICE: ("alice", "alice-nats-secret"), BOB: ("bob", "bob-nats-secret")}
RELAY_USER = ("relay", "relay-nats-secret")


@dataclass
class Center:
    """The simulator, NATS (per-agent users), and the relay behind the public URL the account posts to."""

    sim: Simulator
    tmp: Path
    nats_port: int = field(default_factory=free_port)
    relay_port: int = field(default_factory=free_port)
    server: asyncio.subprocess.Process | None = None
    relay: Relay | None = None
    runner: web.AppRunner | None = None
    beat: asyncio.Task[None] | None = None
    connection: Any = None

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    async def start_nats(self) -> None:
        self.server = await start_nats(self.nats_port, self.tmp, server_users(RELAY_USER, USERS))

    async def stop_nats(self) -> None:
        assert self.server is not None
        self.server.kill()
        await self.server.wait()

    async def start_relay(self) -> None:
        if self.connection is None:
            self.connection = await nats.connect(self.nats_url, user=RELAY_USER[0], password=RELAY_USER[1],
                                                 max_reconnect_attempts=-1, reconnect_time_wait=0.1)
        self.relay = Relay(f"http://127.0.0.1:{self.relay_port}", seed.DEMO_AUTH_TOKEN, self.connection.jetstream(),
                           heartbeat=BEAT)
        await self.relay.prepare()
        self.runner = web.AppRunner(self.relay.app())
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.relay_port).start()
        self.beat = asyncio.get_running_loop().create_task(self.relay.beat(self.connection))

    async def stop_relay(self) -> None:
        assert self.beat is not None and self.runner is not None
        self.beat.cancel()
        await self.runner.cleanup()

    def settings(self, identity: str) -> Any:
        user, password = USERS.get(identity, ("nobody", "nothing"))
        return settings_for(self.sim, self.tmp, identity, relay={
            "nats_url": self.nats_url, "nats_user": user, "nats_password": SecretStr(password), "heartbeat": BEAT})


@pytest.fixture
async def center(tmp_path: Path) -> AsyncIterator[Center]:
    config = SimConfig(delivery_delay=0.05, customer_reply_delay=0.3, colleague_accept_delay=None)
    async with Simulator(config) as sim:
        here = Center(sim, tmp_path)
        await here.start_nats()
        await here.start_relay()
        public = f"http://127.0.0.1:{here.relay_port}"
        assert await relay_command.setup(_parser().parse_args(["relay", "--public-url", public, "--setup"]),
                                         here.settings(ALICE)) == 0
        try:
            yield here
        finally:
            if here.beat is not None:
                here.beat.cancel()
            if here.runner is not None:
                await here.runner.cleanup()
            if here.connection is not None:
                await here.connection.close()
            if here.server is not None and here.server.returncode is None:
                await here.stop_nats()


@dataclass
class Agent:
    session: Session
    events: list[StatusEvent] = field(default_factory=list)

    @property
    def push(self) -> Push:
        assert self.session.push is not None  # the settings name a NATS server
        return self.session.push

    def saw(self, kind: type, **fields: Any) -> list[StatusEvent]:
        return [e for e in self.events
                if isinstance(e, kind) and all(getattr(e, k) == v for k, v in fields.items())]

    def shown(self) -> list[tuple[Any, ...]]:
        """What the agent was shown, one entry per event: the same twice would be a repeat."""
        return [(type(e).__name__, e.conversation_sid, getattr(e, "status", None), getattr(e, "kind", None),
                 getattr(e, "message_sid", None), getattr(e, "task_sid", None), getattr(e, "worker_sid", None),
                 getattr(e, "reservation_sid", None)) for e in self.events]


@pytest.fixture
async def agents(center: Center, tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """`await agents(identity, safety=600)`: that agent's session with push, live, recording its status events."""
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        async def start(identity: str, safety: float = 600.0) -> Agent:
            session = await stack.enter_async_context(open_session(
                center.settings(identity), history_path=tmp_path / f"{identity}.db",
                watcher=lambda gateway: StatusWatcher(gateway, safety=safety)))
            agent = Agent(session)
            session.watcher.subscribe(agent.events.append)
            await until(lambda: agent.push.live)
            return agent

        yield start


async def send(agent: Agent, mode: str, number: str = "+14155550100") -> str:
    result = await agent.session.send({"destination": number, "callerId": seed.SMS_SENDERS[0], "channel": "sms",
                                       "body": "Hello", "sendMode": mode})
    return result.conversation_sid


def requests(sim: Simulator, path_part: str, since: int = 0) -> int:
    return sum(1 for entry in sim.world.log[since:] if path_part in entry.path)


async def test_pushed_status_reaches_the_agent_without_polling(center: Center, agents: Any) -> None:
    alice = await agents(ALICE)
    mark = len(center.sim.world.log)
    conversation = await send(alice, "wait_me")
    await until(lambda: alice.saw(TaskStatusChanged, conversation_sid=conversation, status="reserved",
                                  worker_sid=seed.WORKERS[0].sid))
    assert alice.saw(MessageStatusChanged, status="delivered") and alice.saw(CustomerReplied)
    assert alice.push.applied >= 4
    # what polling would have asked: the rate-limited task list, and the agent's reservations while waiting
    assert requests(center.sim, "/Tasks", mark) - requests(center.sim, "/Tasks/", mark) == 0
    assert requests(center.sim, "/Reservations", mark) <= 1  # the offer's holder, read once
    reads = alice.session.watcher.requests
    await asyncio.sleep(10 * BEAT)
    assert alice.session.watcher.requests == reads  # quiet: nothing read until the relay says something changed
    assert len(alice.shown()) == len(set(alice.shown()))


async def test_an_agent_receives_only_their_own_events(center: Center, agents: Any) -> None:
    alice, bob = await agents(ALICE), await agents(BOB)
    heard: list[str | None] = []
    alice.push.subscribe(lambda event: heard.append(event.conversation_sid))
    theirs = await send(bob, "wait_me", "+14155550101")
    await until(lambda: bob.saw(TaskStatusChanged, conversation_sid=theirs, status="reserved"))
    mine = await send(alice, "open_chat", "+14155550102")
    await until(lambda: mine in heard)
    assert theirs not in heard and not [e for e in alice.events if e.conversation_sid == theirs]

    # and alice's NATS user cannot read bob's subject even when she asks for it
    from nats.js.api import ConsumerConfig

    errors: list[Exception] = []

    async def refused(error: Exception) -> None:
        errors.append(error)

    connection = await nats.connect(center.nats_url, user="alice", password="alice-nats-secret",
                                    inbox_prefix=inbox_prefix(ALICE), error_cb=refused)
    try:
        with pytest.raises(nats.errors.TimeoutError):  # no answer: the request was never let through
            await connection.jetstream().add_consumer(STREAM, ConsumerConfig(
                name="peek", filter_subject=agent_subject(BOB), deliver_subject=f"{inbox_prefix(ALICE)}.peek"),
                timeout=1.0)
    finally:
        await connection.close()
    refused = f"$js.api.consumer.create.outbound.peek.{agent_subject(BOB).lower()}"
    assert [str(error) for error in errors] == [f'nats: permissions violation for publish to "{refused}"']


async def test_a_silent_relay_falls_back_to_polling_and_push_comes_back_nothing_lost_or_repeated(
        center: Center, agents: Any) -> None:
    alice = await agents(ALICE)
    push = alice.push
    await center.stop_relay()  # no heartbeat, no webhooks: Twilio's posts fail
    await until(lambda: not push.live)
    assert alice.session.watcher.pushing is False
    conversation = await send(alice, "wait_me")  # polled: everything still shows
    await until(lambda: alice.saw(TaskStatusChanged, conversation_sid=conversation, status="reserved"))
    assert alice.saw(MessageStatusChanged, status="delivered") and alice.saw(CustomerReplied)

    await center.start_relay()
    await until(lambda: push.live)
    applied = push.applied
    offer = alice.session.offer(conversation)
    assert offer is not None
    await alice.session.answer_offer(offer, accept=True)
    await until(lambda: alice.saw(TaskStatusChanged, conversation_sid=conversation, status="assigned"))
    assert push.applied > applied  # the acceptance came through the relay again
    assert len(alice.shown()) == len(set(alice.shown()))


async def test_nats_gone_falls_back_to_polling_and_push_resumes_when_it_is_back(center: Center, agents: Any) -> None:
    alice = await agents(ALICE)
    push = alice.push
    await center.stop_nats()
    await until(lambda: not push.live)
    conversation = await send(alice, "wait_any")
    await until(lambda: alice.saw(CustomerReplied, conversation_sid=conversation))
    await center.start_nats()  # the same store: the stream, the owners and the sequence go on
    await until(lambda: push.live, seconds=4.5)
    conversation = await send(alice, "open_chat", "+14155550112")
    await until(lambda: alice.saw(MessageStatusChanged, conversation_sid=conversation, status="delivered"))
    assert len(alice.shown()) == len(set(alice.shown()))


async def test_a_lost_consumer_is_made_again_from_the_last_event_seen(center: Center, agents: Any) -> None:
    alice = await agents(ALICE)
    push = alice.push
    first = await send(alice, "open_chat")
    await until(lambda: alice.saw(MessageStatusChanged, conversation_sid=first, status="delivered"))
    seen = push.last_sequence
    jetstream = center.connection.jetstream()
    consumers = [info.name for info in await jetstream.consumers_info(STREAM)]
    assert consumers
    for name in consumers:  # NATS loses the agent's consumer: its events stop, and so do its heartbeats
        await jetstream.delete_consumer(STREAM, name)
    second = await send(alice, "wait_me", "+14155550114")  # stored for alice while she has no consumer
    await until(lambda: alice.saw(TaskStatusChanged, conversation_sid=second, status="reserved"))
    await until(lambda: push.last_sequence > seen + 3 and push.live)
    assert len(alice.shown()) == len(set(alice.shown()))


async def test_a_webhook_twilio_never_sent_is_caught_by_the_safety_read(center: Center, agents: Any) -> None:
    alice = await agents(ALICE, safety=0.5)
    center.sim.world.callbacks.knobs.drop = 1000  # from now on Twilio tells the relay nothing
    conversation = await send(alice, "wait_any")
    await until(lambda: alice.saw(CustomerReplied, conversation_sid=conversation))
    assert alice.saw(MessageStatusChanged, conversation_sid=conversation, status="delivered")
    assert alice.push.live  # push was live all along


async def test_no_secret_is_logged(center: Center, agents: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    alice = await agents(ALICE)
    conversation = await send(alice, "open_chat")
    await until(lambda: alice.saw(MessageStatusChanged, conversation_sid=conversation, status="delivered"))
    settings = center.settings(BOB).model_copy(update={"relay": center.settings(BOB).relay.model_copy(
        update={"nats_password": SecretStr("a-wrong-nats-password")})})
    async with open_session(settings, history_path=center.tmp / "bob.db") as bob:  # refused by NATS: polls
        await asyncio.sleep(3 * BEAT)
        assert bob.push is not None and not bob.push.live
    assert any("relay:" in record.getMessage() for record in caplog.records)  # the refusal was said
    text = caplog.text
    for secret in (seed.DEMO_AUTH_TOKEN, "alice-nats-secret", "relay-nats-secret", "a-wrong-nats-password"):
        assert secret not in text


async def test_the_agents_activity_is_read_again_when_the_relay_says_it_changed(center: Center, agents: Any) -> None:
    alice = await agents(ALICE)
    await alice.session.refresh_agent()
    assert not alice.session.agent_due()  # live and just read: not every 15 s
    taskrouter = center.sim.world.taskrouter
    taskrouter.set_worker_activity(taskrouter.workers[seed.WORKERS[1].sid], taskrouter.activities[seed.BREAK.sid])
    await asyncio.sleep(5 * BEAT)
    assert not alice.session.agent_due()  # bob's break is not alice's news
    taskrouter.set_worker_activity(taskrouter.workers[seed.WORKERS[0].sid], taskrouter.activities[seed.BREAK.sid])
    await until(alice.session.agent_due)
    assert (await alice.session.refresh_agent()).activity_name == "Break"
    assert not alice.session.agent_due()


async def test_an_event_twilio_posts_while_nats_is_away_a_moment_is_stored_once_it_is_back(center: Center) -> None:
    import aiohttp

    from sim.callbacks import signature

    url = f"http://127.0.0.1:{center.relay_port}/taskrouter"
    form = {"EventType": "task.created", "Sid": "EV" + "5" * 32, "TaskSid": "WT" + "5" * 32, "ResourceType": "task"}
    await center.stop_nats()

    async def post() -> int:
        async with aiohttp.ClientSession() as session, session.post(url, data=form, headers={
                "X-Twilio-Signature": signature(seed.DEMO_AUTH_TOKEN, url, form)}) as answer:
            return answer.status

    posting = asyncio.get_running_loop().create_task(post())
    await asyncio.sleep(1.5)  # longer than one attempt to store it
    assert not posting.done()  # Twilio is answered only once the event is stored
    await center.start_nats()
    assert await posting == 200
    assert center.relay is not None and center.relay.published == 1
    home = "outbound.task.WT" + "5" * 32
    info = await center.connection.jetstream().stream_info(STREAM, subjects_filter=home)
    assert info.state.subjects == {home: 1}  # stored once, however often it was tried


async def test_a_send_the_relay_did_not_hear_of_is_polled_until_it_does(center: Center, agents: Any) -> None:
    alice = await agents(ALICE)
    push = alice.push
    await center.stop_relay()
    await until(lambda: not push.live)
    center.sim.world.config.customer_reply_delay = 1.5  # the reply comes once the relay is back
    conversation = await send(alice, "wait_any")  # its first webhooks are lost: the relay cannot know it is alice's
    taskrouter = center.sim.world.taskrouter  # and the reply's task goes to a colleague, never telling it either
    taskrouter.set_worker_activity(taskrouter.workers[seed.WORKERS[0].sid], taskrouter.activities[seed.BREAK.sid])
    await center.start_relay()
    await until(lambda: push.live)
    await until(lambda: alice.saw(CustomerReplied, conversation_sid=conversation))  # (its task is for someone else)
    await until(lambda: alice.saw(TaskStatusChanged, conversation_sid=conversation, status="reserved"))


async def test_a_stream_made_again_is_read_from_its_start(center: Center, agents: Any) -> None:
    alice = await agents(ALICE)
    push = alice.push
    heard: list[str | None] = []
    push.subscribe(lambda event: heard.append(event.conversation_sid))
    first = await send(alice, "open_chat")
    await until(lambda: alice.saw(MessageStatusChanged, conversation_sid=first, status="delivered"))
    await until(lambda: push.last_sequence >= 15)  # further than the new stream will be when the next send is done
    await center.connection.jetstream().delete_stream(STREAM)  # NATS lost it (a store on tmpfs, a mistake)
    second = await send(alice, "wait_me", "+14155550112")  # the relay makes the stream again, from sequence 1
    await until(lambda: alice.saw(TaskStatusChanged, conversation_sid=second, status="reserved"))
    await until(lambda: push.live and heard.count(second) >= 3)  # its events came through the new stream
    assert len(alice.shown()) == len(set(alice.shown()))


async def test_a_relay_with_another_heartbeat_stopping_does_not_make_terminals_fall_back(
        center: Center, agents: Any) -> None:
    alice = await agents(ALICE)
    push = alice.push
    assert center.relay is not None
    center.relay.heartbeat = 4 * BEAT  # the main relay beats slowly (from its next beat on)
    await asyncio.sleep(4 * BEAT)
    quick = Relay("http://127.0.0.1:1", seed.DEMO_AUTH_TOKEN, center.connection.jetstream(), heartbeat=BEAT)
    quick.stream_made = center.relay.stream_made
    beating = asyncio.get_running_loop().create_task(quick.beat(center.connection, "quick"))
    await asyncio.sleep(2 * BEAT)
    beating.cancel()
    went: list[bool] = []
    push.on_live(went.append)
    await asyncio.sleep(8 * BEAT)  # the quick relay is long silent; the main one still beats, every 4 BEAT
    assert push.live and went == []


async def test_events_a_relay_could_not_store_are_caught_up_when_its_heartbeat_says_so(
        center: Center, agents: Any) -> None:
    alice = await agents(ALICE)
    center.sim.world.config.customer_reply_delay = 60.0  # the customer writes only when told to here
    conversation = await send(alice, "open_chat")
    await until(lambda: alice.saw(MessageStatusChanged, conversation_sid=conversation, status="delivered"))
    await asyncio.sleep(5 * BEAT)  # what the send set going (the chat accepted for alice) has settled
    center.sim.world.callbacks.knobs.drop = 1000  # the customer's webhook never becomes an event (as after a 503)
    center.sim.world.customers.say(conversation, "Are you there?")
    await asyncio.sleep(5 * BEAT)
    assert not alice.saw(CustomerReplied, conversation_sid=conversation)  # pushed: nobody said to read it
    assert center.relay is not None
    center.relay.missed += 1  # the relay says it answered Twilio 503 for an event
    await until(lambda: alice.saw(CustomerReplied, conversation_sid=conversation, body="Are you there?"))
