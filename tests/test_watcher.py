"""The status watcher against the simulator over real HTTP, on a manual clock.

The watcher's own clock and sleep are injected: each of its sleeps moves the watcher's clock and the
simulator's clock together, and the tests drive it tick by tick (`watcher.tick()`), so no test sleeps
real time and every run is the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from twilio.rest import Client

from core.views import CreatedInteraction
from core.models import SendMode, SendResult
from core.outbound import OutboundService
from core.status_text import delivery_sentence
from core.events import (
    ConversationEvent,
    CustomerReplied,
    MessageStatusChanged,
    StatusEvent,
    TaskStatusChanged,
    summary_status,
)
from core.watcher import StatusWatcher
from sim.server import Simulator
from sim.world import SimConfig
from tests.outbound_fixtures import (  # noqa: F401 (fixtures)
    ALICE,
    JANE,
    OMAR,
    WA_SENDER,
    WS,
    MakeService,
    accept,
    draft,
    holding_worker,
    make_service,
    service,
)

TASKS = rf"/v1/Workspaces/{WS}/Tasks"
OPTED_OUT, UNREACHABLE, SILENT = "+15005550004", "+15005550010", "+15005550014"


@pytest.fixture
def sim_config() -> SimConfig:
    # Reservations never time out here: the tests' clock runs fast and would let them.
    return SimConfig(manual_clock=True, random_seed=1234, customer_reply_delay=2.0, delivery_delay=0.5,
                     reservation_timeout=10**6)


class Driver:
    """The watcher on a fake clock that moves the simulator's clock with it."""

    def __init__(self, sim: Simulator, service: OutboundService, **options: Any) -> None:
        self.sim, self.service, self.now = sim, service, 0.0
        self.watcher = StatusWatcher(service.gateway, clock=lambda: self.now, sleep=self.sleep, **options)
        self.events: list[StatusEvent] = []
        self.watcher.subscribe(self.events.append)
        self.ticks: list[tuple[float, int]] = []  # (fake time at the tick's start, log length before it)

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.sim.world.clock.advance(seconds)

    async def send(self, mode: SendMode | str, **fields: Any) -> SendResult:
        request = draft(self.service, mode, **fields)
        result = await self.service.send(request)
        self.watcher.follow(result)
        return result

    async def run(self, until: Callable[[list[StatusEvent]], bool] = lambda _: False, *,
                  seconds: float = 60.0) -> None:
        """Ticks until `until(events)` or `seconds` of fake time have passed."""
        end = self.now + seconds
        while self.now < end and not until(self.events):
            self.ticks.append((self.now, len(self.sim.world.log)))
            await self.watcher.tick()

    def of(self, conversation_sid: str) -> list[tuple[Any, ...]]:
        """The conversation's events, shortened: (type, kind/status/body, worker)."""
        return [_short(e) for e in self.events if e.conversation_sid == conversation_sid]


def _short(event: StatusEvent) -> tuple[Any, ...]:
    if isinstance(event, ConversationEvent):
        return ("conversation", event.kind)
    if isinstance(event, MessageStatusChanged):
        return ("message", event.status)
    if isinstance(event, CustomerReplied):
        return ("replied",)
    return ("task", event.status, event.worker_name)


def seen(event_type: type, **fields: Any) -> Callable[[list[StatusEvent]], bool]:
    return lambda events: any(isinstance(e, event_type) and all(getattr(e, k) == v for k, v in fields.items())
                              for e in events)


def requests_for(sim: Simulator, conversation_sid: str) -> int:
    return sum(1 for e in sim.world.log if conversation_sid in e.path or conversation_sid in (e.param(
        "EvaluateTaskAttributes") or ""))


@pytest.fixture
def driver(sim: Simulator, service: OutboundService) -> Driver:
    return Driver(sim, service)


# -- the modes -------------------------------------------------------------------------------------


async def test_wait_me_delivered_then_replied_then_reserved_to_me(driver: Driver) -> None:
    result = await driver.send("wait_me")
    await driver.run(seen(TaskStatusChanged, status="reserved"))
    assert driver.of(result.conversation_sid) == [
        ("conversation", "created"), ("message", "queued"), ("message", "sent"), ("message", "delivered"),
        ("replied",), ("task", "reserved", ALICE.full_name)]
    reply = next(e for e in driver.events if isinstance(e, CustomerReplied))
    assert reply.body.startswith("Hi, this is Jane Doe.")
    task = next(e for e in driver.events if isinstance(e, TaskStatusChanged))
    assert task.worker_sid == ALICE.sid
    assert driver.watcher.following == [result.conversation_sid]  # not final: still followed


async def test_wait_any_reply_is_reserved_to_the_queues_next_worker(driver: Driver, client: Client) -> None:
    result = await driver.send("wait_any", destination="+14155551234")
    await driver.run(seen(TaskStatusChanged, status="reserved"))
    task = next(e for e in driver.events if isinstance(e, TaskStatusChanged))
    assert task.worker_sid == await holding_worker(client, task.task_sid)
    assert [s[0] for s in driver.of(result.conversation_sid)] == [
        "conversation", "message", "message", "message", "replied", "task"]


async def test_open_chat_task_reserved_at_once_then_replied(driver: Driver) -> None:
    result = await driver.send("open_chat")
    await driver.run(seen(CustomerReplied))
    events = driver.of(result.conversation_sid)
    assert events[:3] == [("conversation", "created"), ("message", "queued"), ("task", "reserved", ALICE.full_name)]
    assert events[3:] == [("message", "sent"), ("message", "delivered"), ("replied",)]
    assert next(e for e in driver.events if isinstance(e, TaskStatusChanged)).task_sid == result.task_sid


async def test_whatsapp_read_follows_delivered(driver: Driver) -> None:
    result = await driver.send("wait_me", channel="whatsapp", sender=WA_SENDER)
    await driver.run(seen(MessageStatusChanged, status="read"))
    assert driver.of(result.conversation_sid)[:5] == [
        ("conversation", "created"), ("message", "queued"), ("message", "sent"), ("message", "delivered"),
        ("message", "read")]


# -- failures and final states -----------------------------------------------------------------------


@pytest.mark.parametrize(("destination", "channel", "status", "code", "words"), [
    (OPTED_OUT, "sms", "failed", 21610, "opted out"),
    (UNREACHABLE, "sms", "undelivered", 30003, "could not be reached"),
    (OMAR.address, "whatsapp", "failed", 63016, "24 hours"),
])
async def test_failures_come_with_their_sentence_and_end_the_following(
        driver: Driver, sim: Simulator, destination: str, channel: str, status: str, code: int, words: str) -> None:
    sender = WA_SENDER if channel == "whatsapp" else draft(driver.service, "wait_me").sender
    result = await driver.send("wait_me", destination=destination, channel=channel, sender=sender)
    await driver.run(seen(MessageStatusChanged, status=status))
    failed = driver.events[-1]
    assert isinstance(failed, MessageStatusChanged)
    assert (failed.status, failed.error_code) == (status, code)
    assert failed.sentence == delivery_sentence(code) and words in failed.sentence
    expected = ["queued", "sent", status] if status == "undelivered" else ["queued", status]
    assert [s[1] for s in driver.of(result.conversation_sid)][1:] == expected
    assert driver.watcher.following == []
    before = requests_for(sim, result.conversation_sid)
    await driver.run(seconds=300)
    assert requests_for(sim, result.conversation_sid) == before


async def test_completed_task_and_closed_conversation_end_the_following(
        driver: Driver, sim: Simulator, client: Client) -> None:
    result = await driver.send("open_chat")
    await driver.run(seen(CustomerReplied))
    assert result.task_sid is not None
    await accept(client, result.task_sid)
    await driver.run(seen(TaskStatusChanged, status="assigned"))
    gateway = driver.service.gateway
    [task] = await gateway.live_tasks(result.conversation_sid)
    await gateway.close_interaction(CreatedInteraction(
        interaction_sid=task.attributes["flexInteractionSid"], channel_sid=task.attributes["flexInteractionChannelSid"],
        conversation_sid=result.conversation_sid, task_sid=task.sid))
    await driver.run(seen(ConversationEvent, kind="closed"))
    assert driver.of(result.conversation_sid)[-2:] == [("task", "completed", None), ("conversation", "closed")]
    assert driver.watcher.following == []
    before = len(sim.world.log)
    await driver.run(seconds=300)
    assert len(sim.world.log) == before


# -- economy -----------------------------------------------------------------------------------------


async def test_a_reply_routed_to_me_is_found_in_my_reservations_without_the_task_list(
        driver: Driver, sim: Simulator) -> None:
    results = [await driver.send("wait_me", destination=f"+1415555{2000 + i}") for i in range(5)]
    await driver.run(lambda events: all(("task", "reserved", ALICE.full_name) in driver.of(r.conversation_sid)
                                        for r in results))
    task_lists = [e for e in sim.world.log if e.method == "GET" and e.path == TASKS]
    assert len(task_lists) <= driver.now / driver.watcher.discover_every + 1  # 3 a second per account, at most
    offered = [e for e in sim.world.log if e.method == "GET" and e.path.endswith("/Reservations")
               and e.param("ReservationStatus") == "pending"]
    assert offered  # my own pending reservations: where a reply routed to me is found


async def test_the_task_list_finds_other_agents_tasks_once_per_discover_every_for_every_conversation(
        driver: Driver, sim: Simulator) -> None:
    results = [await driver.send("wait_any", destination=f"+1415555{2000 + i}") for i in range(5)]
    start = driver.now
    await driver.run(seconds=60)
    task_lists = [e for e in sim.world.log if e.method == "GET" and e.path == TASKS]
    assert task_lists and len(task_lists) <= 60 / driver.watcher.discover_every + 1
    for entry in task_lists:
        expression = entry.param("EvaluateTaskAttributes") or ""
        assert expression.startswith("conversationSid IN [")
    assert all(any(e[0] == "task" for e in driver.of(r.conversation_sid)) for r in results)  # every reply's task
    assert driver.now - start >= 60


async def test_quiet_conversations_back_off_to_the_slow_interval(driver: Driver, sim: Simulator) -> None:
    result = await driver.send("wait_me", destination=SILENT)
    await driver.run(seen(MessageStatusChanged, status="delivered"))
    await driver.run(seconds=600)  # ramp down to the slow interval
    start = len(sim.world.log)
    await driver.run(seconds=600)
    polls = [e for e in sim.world.log[start:] if result.conversation_sid in e.path]
    task_lists = [e for e in sim.world.log[start:] if e.path == TASKS]
    assert len(polls) <= 600 / driver.watcher.slow + 1
    assert len(task_lists) <= 600 / driver.watcher.task_period + 1


async def test_a_429_pauses_all_polling_for_retry_after_then_polling_resumes(driver: Driver, sim: Simulator) -> None:
    sim.fault(r"/v1/Conversations/CH[0-9a-f]{32}/Messages", method="GET", status=429, code=20429, retry_after=2)
    result = await driver.send("wait_me")
    await driver.run(lambda _: any(e.status == 429 for e in sim.world.log))
    refused = next(i for i, e in enumerate(sim.world.log) if e.status == 429)
    paused_at = driver.now
    await driver.run(seen(MessageStatusChanged, status="delivered"))
    marks = [*driver.ticks, (driver.now, len(sim.world.log))]
    # the start of the first tick that made a request after the refused one
    resumed = next(t for (t, _), (_, after) in zip(marks, marks[1:]) if after > refused + 1)
    assert resumed >= paused_at + 2
    assert ("message", "delivered") in driver.of(result.conversation_sid)


async def test_errors_never_stop_the_loop(driver: Driver, sim: Simulator) -> None:
    sim.fault(r"/v1/Conversations/CH[0-9a-f]{32}/Messages", method="GET", status=500, times=3)
    sim.fault(TASKS, method="GET", kind="reset", times=2)
    result = await driver.send("wait_me")
    await driver.run(seen(TaskStatusChanged, status="reserved"))
    assert ("replied",) in driver.of(result.conversation_sid)


async def test_the_background_task_runs_and_stops(sim: Simulator, service: OutboundService) -> None:
    driver = Driver(sim, service)
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        await driver.sleep(seconds)
        await real_sleep(0)

    driver.watcher._sleep = sleep
    received: list[StatusEvent] = []

    async def consume() -> None:
        async for event in driver.watcher.events():
            received.append(event)
            if isinstance(event, MessageStatusChanged) and event.status == "delivered":
                return

    async with driver.watcher:
        consumer = asyncio.create_task(consume())
        await real_sleep(0)
        await driver.send("wait_me")
        await asyncio.wait_for(consumer, 10)
    assert [type(e).__name__ for e in received][:2] == ["ConversationEvent", "MessageStatusChanged"]


# -- hostile text --------------------------------------------------------------------------------------

HOSTILE = [
    "[bold red]x[/]",
    "\x1b[31mred\x1b[0m and \x1b]8;;https://evil.example\x07link\x1b]8;;\x07",
    "emoji 👋🏽 👨‍👩‍👧 🇺🇦",
    "مرحبا بالعالم \u202eevil\u202c שלום",
    "bell\x07 tab\t cr\r nul-free control \x08\x0b",
]


async def test_hostile_replies_arrive_byte_for_byte(driver: Driver, sim: Simulator) -> None:
    result = await driver.send("wait_me", destination=SILENT)
    await driver.run(seen(MessageStatusChanged, status="delivered"))
    for body in HOSTILE:
        sim.world.customers.say(result.conversation_sid, body)
    # The simulator refuses bodies over Twilio's 1,600 characters; a 10,000-character one is put in place.
    long = sim.world.customers.say(result.conversation_sid, "placeholder")
    long.body = ("ع😀[/]\x1b" * 2000)[:10_000]
    await driver.run(lambda events: sum(isinstance(e, CustomerReplied) for e in events) == len(HOSTILE) + 1)
    bodies = [e.body for e in driver.events if isinstance(e, CustomerReplied)]
    assert bodies == [*HOSTILE, long.body]
    assert len(bodies[-1]) == 10_000


def test_summary_status() -> None:
    assert summary_status(None) == "queued"
    assert summary_status({"total": 1, "sent": "all", "delivered": "none", "read": "none", "failed": "none",
                           "undelivered": "none"}) == "sent"
    assert summary_status({"total": 2, "sent": "all", "delivered": "some", "failed": "some"}) == "failed"


def test_unknown_codes_get_a_generic_sentence() -> None:
    assert "12345" in delivery_sentence(12345)
    assert delivery_sentence(None)


async def test_a_followed_chat_reports_its_customers_new_messages_and_its_task_not_its_past(
        sim: Simulator, service: OutboundService) -> None:
    driver = Driver(sim, service)
    message = sim.world.customers.write_in(JANE.address, "+15017122661", "Where is my order?")  # an inbound chat
    [task] = sim.world.taskrouter.tasks_for_conversation(message.conversation_sid)
    driver.watcher.follow_chat(message.conversation_sid, JANE.address, task.sid)
    await driver.run(seen(TaskStatusChanged, status="reserved"))
    assert not any(isinstance(e, CustomerReplied) for e in driver.events)  # what was there is the transcript's

    sim.world.customers.say(message.conversation_sid, "Hello?")
    sim.world.customers.say(message.conversation_sid, "Anyone?")
    await driver.run(lambda events: sum(isinstance(e, CustomerReplied) for e in events) >= 2, seconds=5)
    assert [e.body for e in driver.events if isinstance(e, CustomerReplied)] == ["Hello?", "Anyone?"]
    assert driver.of(message.conversation_sid)[0] == ("task", "reserved", "Alice Johnson")


async def test_a_send_followed_with_its_start_time_dates_its_first_events_by_it(driver: Driver) -> None:
    began = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    result = await driver.service.send(draft(driver.service, "wait_me"))
    driver.watcher.follow(result, at=began)  # the answer came late: created/queued are when the send began
    await driver.run(seen(MessageStatusChanged, status="sent"))
    assert [e.at for e in driver.events[:2]] == [began, began]


async def test_a_send_resumed_after_a_restart_dates_what_it_had_reached_by_its_making(
        sim: Simulator, service: OutboundService, driver: Driver) -> None:
    result = await driver.send("wait_any")
    await driver.run(seen(MessageStatusChanged, status="delivered"))
    later = Driver(sim, service)  # the next start: nothing seen yet, the message long delivered
    await later.sleep(300)
    later.watcher.follow(result, resumed=True)
    await later.run(seen(MessageStatusChanged, status="delivered"))
    [message] = [m for m in sim.world.conversations.conversation(result.conversation_sid).messages
                 if m.sid == result.message_sid]
    made = datetime.fromtimestamp(message.date_created, UTC).replace(microsecond=0)  # Twilio: whole seconds
    statuses = [e for e in later.events if isinstance(e, MessageStatusChanged)]
    assert [e.status for e in statuses] == ["sent", "delivered"] and {e.at for e in statuses} == {made}


async def test_a_reply_routed_to_me_after_a_long_quiet_is_offered_within_the_task_period(
        driver: Driver, sim: Simulator) -> None:
    sim.world.config.customer_reply_delay = 10**6  # the customer answers when the test says so
    result = await driver.send("wait_me")
    await driver.run(seen(MessageStatusChanged, status="delivered"))
    await driver.run(seconds=600)  # quiet: its conversation is read every `slow` seconds now
    sim.world.customers.say(result.conversation_sid, "Call me")
    said_at = driver.now
    await driver.run(seen(TaskStatusChanged, status="reserved"), seconds=60)
    assert ("task", "reserved", ALICE.full_name) in driver.of(result.conversation_sid)
    assert driver.now - said_at <= driver.watcher.task_period + driver.watcher.fast  # not `slow` (120 s)
    assert [e for e in sim.world.log if e.method == "GET" and e.path == TASKS] == []  # found in my reservations
