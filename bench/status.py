"""The status watcher against the simulator (real clock, loopback): latency and requests per minute.

Run: .venv/bin/python bench/status.py
For 1, 10 and 100 followed sends (wait_any SMS sent at random times), the simulated customers reply
and the reservations are accepted at random times. Latency: from the simulator's state change (receipt
step, customer message, task status, as the simulator's world records them) to the watcher's event.
Active: requests per minute while those events happen. Quiet: once every followed conversation has
backed off to the slow interval, requests over QUIET_WINDOW seconds (one slow cycle), scaled to a minute (all three
watchers measured in the same window; each counts its own requests).
Prints one `name: value` line per figure. Budgets (default settings): p50 ≤ 1 s, p95 ≤ 2 s,
100 quiet sends ≤ 60 requests per minute.

Run: .venv/bin/python bench/status.py --agents      (about 3 min)
A whole contact center on one account: N = 1, 10 and 50 agents (sessions of their own, as N terminals) on one
simulator, which enforces TaskRouter's 3 task lists with EvaluateTaskAttributes a second per account (429 +
Retry-After). Each agent sends 3 messages (open_chat, wait_me, wait_any) in its first SPREAD_AGENTS seconds; the
customers reply; simulated colleagues accept every reservation. Over AGENTS_WINDOW seconds from the first send, per
endpoint: requests a second on average, at the peak (the busiest second), and the 429s, against Twilio's documented
limits (task list 3/s per account; Flex Interactions 20/s per endpoint; Conversations 30 writes/s per service).
Last line: `status agents: N=50 task list peak … /s (limit 3), 429s=…, requests/min per agent …`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.gateway import TwilioGateway  # noqa: E402
from core.twilio_client import open_client  # noqa: E402
from core.models import prepare_send  # noqa: E402
from core.outbound import OutboundService  # noqa: E402
from core.settings import load_settings  # noqa: E402
from core.events import CustomerReplied, MessageStatusChanged, StatusEvent, TaskStatusChanged  # noqa: E402
from core.watcher import StatusWatcher  # noqa: E402
from sim import seed  # noqa: E402
from sim.server import Simulator  # noqa: E402
from sim.world import SimConfig  # noqa: E402
from tui.cli import on_simulator  # noqa: E402

SIZES = (1, 10, 100)
SEND_SPREAD = 5.0  # sends go out at random times within this many seconds
REPLY_AFTER = (1.0, 10.0)  # the customer writes this long after the send (uniform)
ACCEPT_AFTER = (0.5, 5.0)  # a reservation is accepted this long after it is offered (uniform)
ACTIVE_FOR = 25.0  # seconds of each active phase
QUIET_WINDOW = 120.0  # one full cycle of the slow interval: every quiet conversation is polled once in it
QUIET_WAIT_LIMIT = 240.0


class Recorder:
    """When the simulator changed what the watcher reports, read from its world as it happens."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.changes: dict[tuple[str, str], list[float]] = {}
        world = sim.world
        delivery, taskrouter = world.conversations.delivery, world.taskrouter
        advance, touch = delivery._advance, taskrouter._touch

        def advanced(message: Any, recipient: Any, status: str, error_code: int | None) -> None:
            advance(message, recipient, status, error_code)
            self._mark(message.sid, status)

        def touched(task: Any) -> None:
            touch(task)
            self._mark(task.sid, task.assignment_status)

        delivery._advance = advanced  # type: ignore[method-assign]
        taskrouter._touch = touched  # type: ignore[method-assign]

    def _mark(self, sid: str, status: str) -> None:
        self.changes.setdefault((sid, status), []).append(self.sim.world.now())

    def changed_at(self, event: StatusEvent, seen: float) -> float | None:
        world = self.sim.world
        if isinstance(event, MessageStatusChanged):
            times = self.changes.get((event.message_sid, event.status), [])
        elif isinstance(event, TaskStatusChanged):
            times = self.changes.get((event.task_sid, event.status), [])
            task = world.taskrouter.tasks.get(event.task_sid)
            if not times and event.status == "pending" and task is not None:
                times = [task.created]
        elif isinstance(event, CustomerReplied):
            conversation = world.conversations.conversations.get(event.conversation_sid)
            times = [m.date_created for m in (conversation.messages if conversation else [])
                     if m.sid == event.message_sid]
        else:
            return None
        before = [t for t in times if t <= seen]
        return before[-1] if before else None


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def active_phase(size: int, sim: Simulator, recorder: Recorder, service: OutboundService,
                       watcher: StatusWatcher, numbers: Any, rng: random.Random) -> tuple[list[float], float]:
    latencies: list[float] = []
    accepting: set[str] = set()

    def on_event(event: StatusEvent) -> None:
        seen = sim.world.now()
        changed = recorder.changed_at(event, seen)
        if changed is not None:
            latencies.append(seen - changed)
        if isinstance(event, TaskStatusChanged) and event.status == "reserved" and event.task_sid not in accepting:
            accepting.add(event.task_sid)
            # the agent accepts a while after the offer (the offer's time is the simulator's, not the event's)
            asyncio.get_running_loop().call_later(rng.uniform(*ACCEPT_AFTER), accept, event.task_sid)

    def accept(task_sid: str) -> None:
        taskrouter = sim.world.taskrouter
        task = taskrouter.tasks.get(task_sid)
        pending = [r for r in (task.reservations if task else []) if r.status == "pending"]
        if pending:
            taskrouter.update_reservation(pending[-1], "accepted")

    async def send_one(delay: float) -> None:
        await asyncio.sleep(delay)
        request = prepare_send(channel="sms", destination=next(numbers), sender=seed.SMS_SENDERS[0], mode="wait_any",
                               senders=service.gateway.settings.senders, body="Hello")
        result = await service.send(request)
        watcher.follow(result)
        await asyncio.sleep(rng.uniform(*REPLY_AFTER))
        sim.world.customers.say(result.conversation_sid, "Yes, call me [bold]now[/] 👋")

    unsubscribe = watcher.subscribe(on_event)
    started, before = time.monotonic(), watcher.requests
    sends = asyncio.gather(*(send_one(rng.uniform(0, SEND_SPREAD)) for _ in range(size)))
    await asyncio.sleep(ACTIVE_FOR)
    await sends
    elapsed = time.monotonic() - started
    unsubscribe()
    return latencies, (watcher.requests - before) / elapsed * 60


SPREAD_AGENTS = 10.0
AGENTS_WINDOW = 40.0
ENDPOINTS = [  # (name, method, path pattern, query parameter that must be there, documented limit a second)
    ("task list (EvaluateTaskAttributes)", "GET", r"/v1/Workspaces/WS\w+/Tasks", "EvaluateTaskAttributes", 3),
    ("task by SID", "GET", r"/v1/Workspaces/WS\w+/Tasks/WT\w+", None, None),
    ("reservations", "GET", r"/v1/Workspaces/WS\w+/(Tasks/WT\w+|Workers/WK\w+)/Reservations", None, None),
    ("Flex Interactions writes", "POST", r"/v1/Interactions.*", None, 20),
    ("Conversations writes", "POST", r"/v1/(Conversations|ConversationWithParticipants).*", None, 30),
    ("Conversations reads", "GET", r"/v1/(Conversations|ParticipantConversations).*", None, None),
]


def endpoint_of(entry: Any) -> str | None:
    import re

    for name, method, pattern, needs, _ in ENDPOINTS:
        if entry.method == method and re.fullmatch(pattern, entry.path) and (needs is None or entry.param(needs)):
            return name
    return None


async def agents_phase(agents: int) -> dict[str, Any]:
    """`agents` sessions on one simulator, 3 sends each: the requests per endpoint (see the module docstring)."""
    from core.session import open_session

    rng = random.Random(agents)
    config = SimConfig(random_seed=agents, delivery_delay=0.5, customer_reply_delay=5.0, colleague_accept_delay=2.0)
    async with Simulator(config) as sim, contextlib.AsyncExitStack() as stack:
        settings = on_simulator(load_settings(env={"XDG_CONFIG_HOME": "/nonexistent"}, cwd=Path("/nonexistent")),
                                sim.base_url)
        sessions = [await stack.enter_async_context(open_session(settings, history_path=":memory:"))
                    for _ in range(agents)]
        numbers = iter(f"+1415555{n:04d}" for n in range(1000, 9999))
        start = asyncio.get_running_loop().time()
        mark = len(sim.world.log)

        async def three(session: Any) -> None:
            for mode in ("open_chat", "wait_me", "wait_any"):
                await asyncio.sleep(rng.uniform(0, SPREAD_AGENTS / 3))
                await session.send({"destination": next(numbers), "callerId": seed.SMS_SENDERS[0], "channel": "sms",
                                    "body": "Hello", "sendMode": mode})

        await asyncio.gather(*(three(s) for s in sessions))
        await asyncio.sleep(max(0.0, start + AGENTS_WINDOW - asyncio.get_running_loop().time()))
        window = [e for e in sim.world.log[mark:] if not e.path.startswith("/_sim/")]
    figures: dict[str, Any] = {"total": len(window)}
    for name, *_, limit in ENDPOINTS:
        mine = [e for e in window if endpoint_of(e) == name]
        seconds: dict[int, int] = {}
        for e in mine:
            seconds[int(e.started - start)] = seconds.get(int(e.started - start), 0) + 1
        figures[name] = (len(mine) / AGENTS_WINDOW, max(seconds.values(), default=0),
                         sum(1 for e in mine if e.status == 429), limit)
    return figures


async def agents_main() -> None:
    import logging

    quiet = logging.getLogger("outbound_panel")  # each watcher's "slow down" warnings: counted, not printed
    quiet.propagate = False
    quiet.addHandler(logging.NullHandler())
    for agents in (1, 10, 50):
        figures = await agents_phase(agents)
        for name, *_ in ENDPOINTS:
            mean, peak, refused, limit = figures[name]
            print(f"agents={agents} {name}: {mean:.2f}/s, peak {peak}/s" + (f" (limit {limit})" if limit else "")
                  + (f", 429s {refused}" if refused else ""))
        per_agent = figures["total"] / AGENTS_WINDOW * 60 / agents
        print(f"agents={agents} all requests per minute per agent: {per_agent:.0f}")
    _, peak, refused, _ = figures[ENDPOINTS[0][0]]
    print(f"status agents: N=50 task list peak {peak}/s (limit 3), 429s={refused}, "
          f"requests/min per agent {per_agent:.0f}")


async def main() -> None:
    rng = random.Random(5)
    settings = load_settings(env={"XDG_CONFIG_HOME": "/nonexistent"}, cwd=Path("/nonexistent"))
    config = SimConfig(random_seed=7, delivery_delay=0.5, customer_reply_delay=10**6, reservation_timeout=3600)
    async with Simulator(config) as sim:
        recorder = Recorder(sim)
        settings = on_simulator(settings, sim.base_url)
        async with open_client(settings) as client:
            gateway = TwilioGateway(client, settings)
            service = OutboundService(gateway, await gateway.fetch_agent())
            numbers = iter(f"+1415555{n:04d}" for n in range(3000, 9999))
            watchers = {size: StatusWatcher(gateway) for size in SIZES}
            failed: list[str] = []
            for watcher in watchers.values():
                watcher.start()
            try:
                for size, watcher in watchers.items():
                    latencies, rate = await active_phase(size, sim, recorder, service, watcher, numbers, rng)
                    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
                    print(f"active {size} sends events measured: {len(latencies)}")
                    print(f"active {size} sends latency p50: {p50:.3f} s")
                    print(f"active {size} sends latency p95: {p95:.3f} s")
                    print(f"active {size} sends latency max: {max(latencies):.3f} s")
                    print(f"active {size} sends requests per minute: {rate:.0f}")
                    if not (p50 <= 1.0 and p95 <= 2.0):
                        failed.append(f"active {size} latency")
                waited = time.monotonic()
                while any(i < w.slow for w in watchers.values() for i in w.poll_intervals().values()):
                    if time.monotonic() - waited > QUIET_WAIT_LIMIT:
                        break
                    await asyncio.sleep(1.0)
                print(f"quiet ramp-down wait: {time.monotonic() - waited:.0f} s")
                before = {size: w.requests for size, w in watchers.items()}
                started = time.monotonic()
                await asyncio.sleep(QUIET_WINDOW)
                elapsed = time.monotonic() - started
                for size, watcher in watchers.items():
                    rate = (watcher.requests - before[size]) / elapsed * 60
                    print(f"quiet {size} sends followed: {len(watcher.following)}")
                    print(f"quiet {size} sends requests per minute: {rate:.1f}")
                    if size == 100 and rate > 60:
                        failed.append("quiet 100 requests per minute")
            finally:
                for watcher in watchers.values():
                    await watcher.stop()
            print(f"budgets met: {'yes' if not failed else 'no (' + ', '.join(failed) + ')'}")


if __name__ == "__main__":
    asyncio.run(agents_main() if "--agents" in sys.argv[1:] else main())
